"""The web console: its sessions, and a supporter's optional home prefecture.

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-27 08:00:04
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "console_sessions",
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("token_version", sa.BigInteger(), nullable=False),
        sa.Column("csrf_token", sa.String(length=64), nullable=False),
        sa.Column("last_seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_console_sessions_user_id_users")
        ),
        sa.PrimaryKeyConstraint("token_hash", name=op.f("pk_console_sessions")),
    )
    op.create_index(
        op.f("ix_console_sessions_user_id"), "console_sessions", ["user_id"], unique=False
    )
    # What each town has pending, submitted or failed on the chain, for its dashboard.
    op.create_index(
        "ix_chain_operations_municipality_id_state",
        "chain_operations",
        ["municipality_id", "state"],
    )
    # Adding a nullable column needs no table copy, on SQLite either.
    op.add_column("users", sa.Column("home_prefecture_code", sa.String(length=2), nullable=True))


def downgrade() -> None:
    # In place, not in batch mode: a batch copy of users breaks its foreign keys on SQLite
    # (see 0004); SQLite drops a plain column in place since 3.35.
    op.drop_column("users", "home_prefecture_code")
    op.drop_index("ix_chain_operations_municipality_id_state", table_name="chain_operations")
    op.drop_index(op.f("ix_console_sessions_user_id"), table_name="console_sessions")
    op.drop_table("console_sessions")
