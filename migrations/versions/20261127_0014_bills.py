"""Rice bills: the harvest conversion's records, and a ledger of several assets.

- ``bills``: one per (work, supporter), written by the conversion with its entry.
- ``accounts.work_id``: a work's bill accounts (``bill_issuance``, ``bill_holder``).
- ``accounts.earned_go``: KOKU earned net of reversals (the rank's 石高), which a
  conversion does not lower.
- ``issuances.conversion_entry_id``: the board issuances a conversion burned.
- ``chain_operations``: an asset (KOKU or bills) and the bill an operation names; an
  entry may have several operations (a conversion burns each board issuance and mints
  the bill), so ``entry_id`` is no longer unique; the reference still is.
- ``chain_deployments.bills_address``: the bill contract beside KOKU.
- ``investments.cancellation_reason``: withdrawn, or cancelled by the harvest.

Revision ID: 0014
Revises: 0013
Create Date: 2026-11-27 14:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "bills",
        sa.Column("entry_id", sa.Uuid(), nullable=False),
        sa.Column("work_id", sa.Uuid(), nullable=False),
        sa.Column("municipality_id", sa.Uuid(), nullable=False),
        sa.Column("season", sa.BigInteger(), nullable=False),
        sa.Column("holder_id", sa.Uuid(), nullable=False),
        sa.Column("yield_report_id", sa.Uuid(), nullable=False),
        sa.Column("board_go", sa.BigInteger(), nullable=False),
        sa.Column("investment_go", sa.BigInteger(), nullable=False),
        sa.Column("labour_go", sa.BigInteger(), nullable=False),
        sa.Column("amount_go", sa.BigInteger(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("amount_go >= 0", name=op.f("ck_bills_amount_non_negative")),
        sa.CheckConstraint("board_go > 0", name=op.f("ck_bills_board_positive")),
        sa.ForeignKeyConstraint(
            ["entry_id"], ["journal_entries.id"], name=op.f("fk_bills_entry_id_journal_entries")
        ),
        sa.ForeignKeyConstraint(["holder_id"], ["users.id"], name=op.f("fk_bills_holder_id_users")),
        sa.ForeignKeyConstraint(
            ["municipality_id"],
            ["municipalities.id"],
            name=op.f("fk_bills_municipality_id_municipalities"),
        ),
        sa.ForeignKeyConstraint(["work_id"], ["works.id"], name=op.f("fk_bills_work_id_works")),
        sa.ForeignKeyConstraint(
            ["yield_report_id"],
            ["yield_reports.id"],
            name=op.f("fk_bills_yield_report_id_yield_reports"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_bills")),
        sa.UniqueConstraint("entry_id", name=op.f("uq_bills_entry_id")),
        sa.UniqueConstraint("work_id", "holder_id", name=op.f("uq_bills_work_id_holder_id")),
    )
    with op.batch_alter_table("bills", schema=None) as batch_op:
        batch_op.create_index("ix_bills_holder_id_id", ["holder_id", "id"], unique=False)

    with op.batch_alter_table("accounts", schema=None) as batch_op:
        batch_op.add_column(sa.Column("work_id", sa.Uuid(), nullable=True))
        batch_op.add_column(
            sa.Column("earned_go", sa.BigInteger(), server_default="0", nullable=False)
        )
        batch_op.create_foreign_key(
            batch_op.f("fk_accounts_work_id_works"), "works", ["work_id"], ["id"]
        )

    # Before bills, nothing but issuances and reversals ever moved a balance.
    op.execute("UPDATE accounts SET earned_go = balance_go")

    with op.batch_alter_table("chain_deployments", schema=None) as batch_op:
        batch_op.add_column(sa.Column("bills_address", sa.String(length=42), nullable=True))

    with op.batch_alter_table("chain_operations", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "asset",
                sa.Enum("koku", "bill", name="chainasset", native_enum=False, length=8),
                server_default="koku",
                nullable=False,
            )
        )
        batch_op.add_column(sa.Column("bill_id", sa.Uuid(), nullable=True))
        batch_op.alter_column("issuance_id", existing_type=sa.Uuid(), nullable=True)
        batch_op.drop_constraint(batch_op.f("uq_chain_operations_entry_id"), type_="unique")
        batch_op.create_index(batch_op.f("ix_chain_operations_bill_id"), ["bill_id"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_chain_operations_entry_id"), ["entry_id"], unique=False
        )
        batch_op.create_foreign_key(
            batch_op.f("fk_chain_operations_bill_id_bills"), "bills", ["bill_id"], ["id"]
        )
        batch_op.create_check_constraint(
            "names_its_record",
            "(asset = 'koku' AND issuance_id IS NOT NULL)"
            " OR (asset = 'bill' AND bill_id IS NOT NULL)",
        )

    with op.batch_alter_table("investments", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "cancellation_reason",
                sa.Enum(
                    "withdrawn",
                    "work_harvested",
                    name="investmentcancellation",
                    native_enum=False,
                    length=32,
                ),
                nullable=True,
            )
        )

    with op.batch_alter_table("issuances", schema=None) as batch_op:
        batch_op.add_column(sa.Column("conversion_entry_id", sa.Uuid(), nullable=True))
        batch_op.create_index(
            batch_op.f("ix_issuances_conversion_entry_id"), ["conversion_entry_id"], unique=False
        )
        batch_op.create_foreign_key(
            batch_op.f("fk_issuances_conversion_entry_id_journal_entries"),
            "journal_entries",
            ["conversion_entry_id"],
            ["id"],
        )


def downgrade() -> None:
    with op.batch_alter_table("issuances", schema=None) as batch_op:
        batch_op.drop_constraint(
            batch_op.f("fk_issuances_conversion_entry_id_journal_entries"), type_="foreignkey"
        )
        batch_op.drop_index(batch_op.f("ix_issuances_conversion_entry_id"))
        batch_op.drop_column("conversion_entry_id")

    with op.batch_alter_table("investments", schema=None) as batch_op:
        batch_op.drop_column("cancellation_reason")

    with op.batch_alter_table("chain_operations", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("ck_chain_operations_names_its_record"), type_="check")
        batch_op.drop_constraint(
            batch_op.f("fk_chain_operations_bill_id_bills"), type_="foreignkey"
        )
        batch_op.drop_index(batch_op.f("ix_chain_operations_entry_id"))
        batch_op.drop_index(batch_op.f("ix_chain_operations_bill_id"))
        batch_op.create_unique_constraint(batch_op.f("uq_chain_operations_entry_id"), ["entry_id"])
        batch_op.alter_column("issuance_id", existing_type=sa.Uuid(), nullable=False)
        batch_op.drop_column("bill_id")
        batch_op.drop_column("asset")

    with op.batch_alter_table("chain_deployments", schema=None) as batch_op:
        batch_op.drop_column("bills_address")

    with op.batch_alter_table("accounts", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("fk_accounts_work_id_works"), type_="foreignkey")
        batch_op.drop_column("earned_go")
        batch_op.drop_column("work_id")

    with op.batch_alter_table("bills", schema=None) as batch_op:
        batch_op.drop_index("ix_bills_holder_id_id")

    op.drop_table("bills")
