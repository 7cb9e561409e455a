"""The web console: its sessions, a supporter's optional home prefecture, and the
relationship population's running total per supporter, town and season.

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
    # A town's issuances newest first (the console's and the audit's lists), with or
    # without a season, read one page from the index instead of sorting them all; the
    # first replaces the (municipality_id, season) index, of which it is a superset.
    op.drop_index("ix_issuances_municipality_id_season", table_name="issuances")
    op.create_index(
        "ix_issuances_municipality_id_season_id", "issuances", ["municipality_id", "season", "id"]
    )
    op.create_index("ix_issuances_municipality_id_id", "issuances", ["municipality_id", "id"])
    # The relationship population's running total: one row per supporter, town and
    # season, filled from the standing issuances already there.
    op.create_table(
        "supporter_seasons",
        sa.Column("municipality_id", sa.Uuid(), nullable=False),
        sa.Column("season", sa.BigInteger(), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("investments", sa.BigInteger(), nullable=False),
        sa.Column("contributions", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["municipality_id"],
            ["municipalities.id"],
            name=op.f("fk_supporter_seasons_municipality_id_municipalities"),
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_supporter_seasons_user_id_users")
        ),
        sa.PrimaryKeyConstraint(
            "municipality_id", "season", "user_id", name=op.f("pk_supporter_seasons")
        ),
    )
    op.execute(
        "INSERT INTO supporter_seasons"
        " (municipality_id, season, user_id, investments, contributions)"
        " SELECT municipality_id, season, recipient_id,"
        " SUM(CASE WHEN kind = 'investment' THEN 1 ELSE 0 END),"
        " SUM(CASE WHEN kind = 'investment' THEN 0 ELSE 1 END)"
        " FROM issuances WHERE reversal_entry_id IS NULL"
        " GROUP BY municipality_id, season, recipient_id"
    )


def downgrade() -> None:
    op.drop_table("supporter_seasons")
    op.drop_index("ix_issuances_municipality_id_id", table_name="issuances")
    op.drop_index("ix_issuances_municipality_id_season_id", table_name="issuances")
    op.create_index(
        "ix_issuances_municipality_id_season", "issuances", ["municipality_id", "season"]
    )
    # In place, not in batch mode: a batch copy of users breaks its foreign keys on SQLite
    # (see 0004); SQLite drops a plain column in place since 3.35.
    op.drop_column("users", "home_prefecture_code")
    op.drop_index("ix_chain_operations_municipality_id_state", table_name="chain_operations")
    op.drop_index(op.f("ix_console_sessions_user_id"), table_name="console_sessions")
    op.drop_table("console_sessions")
