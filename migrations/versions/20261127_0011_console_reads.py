"""The console reads running totals: each town's and each farmer's standing issuance per
season, day (Japan time) and kind, for the weekly charts; each supporter's standing
issuances per region and season, for a region's relationship population. Filled from
the standing issuances already there.

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-27 11:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _day_table(name: str, owner: str, referred: str) -> None:
    op.create_table(
        name,
        sa.Column(owner, sa.Uuid(), nullable=False),
        sa.Column("season", sa.BigInteger(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column(
            "kind",
            sa.Enum(
                "investment", "contribution", name="issuancekind", native_enum=False, length=16
            ),
            nullable=False,
        ),
        sa.Column("amount_go", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            [owner], [f"{referred}.id"], name=op.f(f"fk_{name}_{owner}_{referred}")
        ),
        sa.PrimaryKeyConstraint(owner, "season", "day", "kind", name=op.f(f"pk_{name}")),
    )


def upgrade() -> None:
    # A farmer's support ledger newest first reads one page from an index instead of
    # sorting the farmer's every issuance, as 0008 did for a town's: (farmer_id, season,
    # id) replaces (farmer_id, season), and (farmer_id, id) the plain farmer_id index,
    # so each issuance still writes two farmer indexes.
    op.drop_index("ix_issuances_farmer_id_season", table_name="issuances")
    op.drop_index("ix_issuances_farmer_id", table_name="issuances")
    op.create_index("ix_issuances_farmer_id_season_id", "issuances", ["farmer_id", "season", "id"])
    op.create_index("ix_issuances_farmer_id_id", "issuances", ["farmer_id", "id"])
    _day_table("town_issuance_days", "municipality_id", "municipalities")
    _day_table("farmer_issuance_days", "farmer_id", "farmers")
    # The same day as kokudaka.ledger.daily.japan_day: Japan keeps no daylight saving time.
    if op.get_bind().dialect.name == "postgresql":
        day = "date(timezone('Asia/Tokyo', created_at))"
    else:
        day = "date(created_at, '+9 hours')"
    for table, owner, only in (
        ("town_issuance_days", "municipality_id", ""),
        ("farmer_issuance_days", "farmer_id", " AND farmer_id IS NOT NULL"),
    ):
        op.execute(
            f"INSERT INTO {table} ({owner}, season, day, kind, amount_go)"  # noqa: S608
            f" SELECT {owner}, season, {day}, kind, SUM(amount_go)"
            f" FROM issuances WHERE reversal_entry_id IS NULL{only}"
            f" GROUP BY {owner}, season, {day}, kind"
        )

    op.create_table(
        "region_supporter_seasons",
        sa.Column("region_id", sa.Uuid(), nullable=False),
        sa.Column("season", sa.BigInteger(), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("investments", sa.BigInteger(), nullable=False),
        sa.Column("contributions", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["region_id"],
            ["regions.id"],
            name=op.f("fk_region_supporter_seasons_region_id_regions"),
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_region_supporter_seasons_user_id_users")
        ),
        sa.PrimaryKeyConstraint(
            "region_id", "season", "user_id", name=op.f("pk_region_supporter_seasons")
        ),
    )
    op.execute(
        "INSERT INTO region_supporter_seasons"
        " (region_id, season, user_id, investments, contributions)"
        " SELECT m.region_id, s.season, s.user_id, SUM(s.investments), SUM(s.contributions)"
        " FROM supporter_seasons s JOIN municipalities m ON m.id = s.municipality_id"
        " GROUP BY m.region_id, s.season, s.user_id"
    )


def downgrade() -> None:
    op.drop_table("region_supporter_seasons")
    op.drop_table("farmer_issuance_days")
    op.drop_table("town_issuance_days")
    op.drop_index("ix_issuances_farmer_id_id", table_name="issuances")
    op.drop_index("ix_issuances_farmer_id_season_id", table_name="issuances")
    op.create_index("ix_issuances_farmer_id", "issuances", ["farmer_id"])
    op.create_index("ix_issuances_farmer_id_season", "issuances", ["farmer_id", "season"])
