"""The schema is made only by migrations, and they agree with the models."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Engine, inspect

from kokudaka.models import Base


def test_migrations_reach_head_and_match_the_models(engine: Engine) -> None:
    # The session's database was made by `alembic upgrade head` on an empty database.
    with engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        assert context.get_current_revision() is not None
        differences = compare_metadata(context, Base.metadata)
    assert differences == []
    tables = set(inspect(engine).get_table_names())
    assert set(Base.metadata.tables) <= tables
