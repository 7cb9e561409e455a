"""Expiry of rice bills and notices.

- ``bills.expired_at``, ``gift_entry_id``, ``gifted_go``: the expiry job closes a bill and
  records what was left of it as a gift to the farmer.
- ``notices``: what the app polls (bills expiring in 30 and 7 days, a bill gifted), once
  per cause.
- ``accounts (work_id, user_id)``: a work's bill accounts and a person's bills of a work.

Revision ID: 0016
Revises: 0015
Create Date: 2026-11-27 14:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0016"
down_revision: str | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "notices",
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column(
            "kind",
            sa.Enum(
                "bill_expires_in_30_days",
                "bill_expires_in_7_days",
                "bill_gifted",
                name="noticekind",
                native_enum=False,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("subject_id", sa.Uuid(), nullable=False),
        sa.Column("params", sa.JSON(), nullable=False),
        sa.Column("read_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name=op.f("fk_notices_user_id_users")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_notices")),
        sa.UniqueConstraint("subject_id", "kind", name=op.f("uq_notices_subject_id_kind")),
    )
    with op.batch_alter_table("notices", schema=None) as batch_op:
        batch_op.create_index("ix_notices_user_id_id", ["user_id", "id"], unique=False)

    with op.batch_alter_table("bills", schema=None) as batch_op:
        batch_op.add_column(sa.Column("expired_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("gift_entry_id", sa.Uuid(), nullable=True))
        batch_op.add_column(
            sa.Column("gifted_go", sa.BigInteger(), server_default="0", nullable=False)
        )
        batch_op.create_unique_constraint(batch_op.f("uq_bills_gift_entry_id"), ["gift_entry_id"])
        batch_op.create_foreign_key(
            batch_op.f("fk_bills_gift_entry_id_journal_entries"),
            "journal_entries",
            ["gift_entry_id"],
            ["id"],
        )

    with op.batch_alter_table("accounts", schema=None) as batch_op:
        batch_op.create_index("ix_accounts_work_id_user_id", ["work_id", "user_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("accounts", schema=None) as batch_op:
        batch_op.drop_index("ix_accounts_work_id_user_id")

    with op.batch_alter_table("bills", schema=None) as batch_op:
        batch_op.drop_constraint(
            batch_op.f("fk_bills_gift_entry_id_journal_entries"), type_="foreignkey"
        )
        batch_op.drop_constraint(batch_op.f("uq_bills_gift_entry_id"), type_="unique")
        batch_op.drop_column("gifted_go")
        batch_op.drop_column("gift_entry_id")
        batch_op.drop_column("expired_at")

    with op.batch_alter_table("notices", schema=None) as batch_op:
        batch_op.drop_index("ix_notices_user_id_id")

    op.drop_table("notices")
