"""The harvest: yield reports, a town's harvest rules per season, activities naming a
work, and where the conversion into rice bills will record itself.

- ``yield_reports``: a work's actual yield as filed, countersigned or rejected.
- ``municipality_policies``: the harvest ratio's ceiling (basis points, 12000 = 120%),
  the day the season's bills expire and the last day boards are accepted.
- ``activities.work_id``: hours on an activity naming a work are a labour board on it.
- ``works.bills_issued_at``: set by the conversion; no report is filed after it.
- ``issuances (work_id, recipient_id)``: a work's boards per supporter.

Revision ID: 0013
Revises: 0011
Create Date: 2026-11-27 12:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0013"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "yield_reports",
        sa.Column("work_id", sa.Uuid(), nullable=False),
        sa.Column("municipality_id", sa.Uuid(), nullable=False),
        sa.Column("actual_yield_g", sa.BigInteger(), nullable=False),
        sa.Column("actual_yield_go", sa.BigInteger(), nullable=False),
        sa.Column("harvested_on", sa.Date(), nullable=False),
        sa.Column("photo_urls", sa.JSON(), nullable=False),
        sa.Column("slip_number", sa.String(length=100), nullable=True),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column(
            "state",
            sa.Enum(
                "filed",
                "countersigned",
                "rejected",
                "superseded",
                name="yieldreportstate",
                native_enum=False,
                length=16,
            ),
            nullable=False,
        ),
        sa.Column("filed_by_id", sa.Uuid(), nullable=False),
        sa.Column("reviewed_by_id", sa.Uuid(), nullable=True),
        sa.Column("reviewed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("rejection_reason", sa.String(length=1000), nullable=True),
        sa.Column("superseded_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("actual_yield_g >= 0", name=op.f("ck_yield_reports_grams_non_negative")),
        sa.CheckConstraint("actual_yield_go >= 0", name=op.f("ck_yield_reports_go_non_negative")),
        sa.ForeignKeyConstraint(
            ["filed_by_id"], ["users.id"], name=op.f("fk_yield_reports_filed_by_id_users")
        ),
        sa.ForeignKeyConstraint(
            ["municipality_id"],
            ["municipalities.id"],
            name=op.f("fk_yield_reports_municipality_id_municipalities"),
        ),
        sa.ForeignKeyConstraint(
            ["reviewed_by_id"], ["users.id"], name=op.f("fk_yield_reports_reviewed_by_id_users")
        ),
        sa.ForeignKeyConstraint(
            ["work_id"], ["works.id"], name=op.f("fk_yield_reports_work_id_works")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_yield_reports")),
    )
    op.create_index(
        "ix_yield_reports_municipality_id_state", "yield_reports", ["municipality_id", "state"]
    )
    op.create_index("ix_yield_reports_work_id_id", "yield_reports", ["work_id", "id"])
    # At most one report awaiting countersignature and one in effect per work.
    for state in ("filed", "countersigned"):
        condition = sa.text(f"state = '{state}'")
        op.create_index(
            f"uq_yield_reports_work_id_{state}",
            "yield_reports",
            ["work_id"],
            unique=True,
            postgresql_where=condition,
            sqlite_where=condition,
        )

    with op.batch_alter_table("activities", schema=None) as batch_op:
        batch_op.add_column(sa.Column("work_id", sa.Uuid(), nullable=True))
        batch_op.create_index(batch_op.f("ix_activities_work_id"), ["work_id"], unique=False)
        batch_op.create_foreign_key(
            batch_op.f("fk_activities_work_id_works"), "works", ["work_id"], ["id"]
        )

    op.create_index("ix_issuances_work_id_recipient_id", "issuances", ["work_id", "recipient_id"])

    with op.batch_alter_table("municipality_policies", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("harvest_ceiling_bp", sa.BigInteger(), server_default="12000", nullable=False)
        )
        batch_op.add_column(sa.Column("bills_expire_on", sa.Date(), nullable=True))
        batch_op.add_column(sa.Column("boards_close_on", sa.Date(), nullable=True))
        batch_op.create_check_constraint(
            batch_op.f("ck_municipality_policies_harvest_ceiling_positive"),
            "harvest_ceiling_bp > 0",
        )

    with op.batch_alter_table("works", schema=None) as batch_op:
        batch_op.add_column(sa.Column("bills_issued_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("works", schema=None) as batch_op:
        batch_op.drop_column("bills_issued_at")
    with op.batch_alter_table("municipality_policies", schema=None) as batch_op:
        batch_op.drop_constraint(
            batch_op.f("ck_municipality_policies_harvest_ceiling_positive"), type_="check"
        )
        batch_op.drop_column("boards_close_on")
        batch_op.drop_column("bills_expire_on")
        batch_op.drop_column("harvest_ceiling_bp")
    op.drop_index("ix_issuances_work_id_recipient_id", table_name="issuances")
    with op.batch_alter_table("activities", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("fk_activities_work_id_works"), type_="foreignkey")
        batch_op.drop_index(batch_op.f("ix_activities_work_id"))
        batch_op.drop_column("work_id")
    op.drop_table("yield_reports")
