"""What staff need to read: the national municipality code and the list indexes.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-27 08:00:01
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # batch: SQLite cannot add a unique constraint to an existing table in place.
    with op.batch_alter_table("municipalities") as batch:
        batch.add_column(sa.Column("national_code", sa.String(length=6), nullable=True))
        batch.create_unique_constraint(op.f("uq_municipalities_national_code"), ["national_code"])
    op.create_index(
        "ix_investments_municipality_id_status", "investments", ["municipality_id", "status"]
    )
    op.create_index("ix_issuances_farmer_id_season", "issuances", ["farmer_id", "season"])
    op.create_index(
        "ix_contributions_activity_id_status", "contributions", ["activity_id", "status"]
    )


def downgrade() -> None:
    op.drop_index("ix_contributions_activity_id_status", table_name="contributions")
    op.drop_index("ix_issuances_farmer_id_season", table_name="issuances")
    op.drop_index("ix_investments_municipality_id_status", table_name="investments")
    with op.batch_alter_table("municipalities") as batch:
        batch.drop_constraint(op.f("uq_municipalities_national_code"), type_="unique")
        batch.drop_column("national_code")
