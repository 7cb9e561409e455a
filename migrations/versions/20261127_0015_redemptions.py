"""Redemptions of rice bills: requests with their holds, shipping, receipt.

- ``redemptions``: one per request to redeem 合 of a bill, with its hold, release and
  shipment entries and its delivery address encrypted (erased after the town's
  retention period).
- ``municipalities.address_retention_days``: how long a town keeps a closed
  redemption's address (90 days unless it sets otherwise).
- ``accounts.key`` widened to 100 characters for ``bill-held:<work id>:<user id>``.

Revision ID: 0015
Revises: 0014
Create Date: 2026-11-27 15:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0015"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_ENTRY_COLUMNS = ("hold_entry_id", "release_entry_id", "shipment_entry_id")
_USER_COLUMNS = ("holder_id", "shipped_by_id", "received_by_id", "refused_by_id")


def upgrade() -> None:
    op.create_table(
        "redemptions",
        sa.Column("bill_id", sa.Uuid(), nullable=False),
        sa.Column("work_id", sa.Uuid(), nullable=False),
        sa.Column("farmer_id", sa.Uuid(), nullable=False),
        sa.Column("municipality_id", sa.Uuid(), nullable=False),
        sa.Column("season", sa.BigInteger(), nullable=False),
        sa.Column("holder_id", sa.Uuid(), nullable=False),
        sa.Column("amount_go", sa.BigInteger(), nullable=False),
        sa.Column(
            "method",
            sa.Enum("delivery", "pickup", name="redemptionmethod", native_enum=False, length=16),
            nullable=False,
        ),
        sa.Column(
            "state",
            sa.Enum(
                "requested",
                "shipped",
                "received",
                "cancelled",
                "refused",
                name="redemptionstate",
                native_enum=False,
                length=16,
            ),
            nullable=False,
        ),
        sa.Column("address_ciphertext", sa.LargeBinary(), nullable=True),
        sa.Column("address_erased_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("hold_entry_id", sa.Uuid(), nullable=False),
        sa.Column("release_entry_id", sa.Uuid(), nullable=True),
        sa.Column("shipment_entry_id", sa.Uuid(), nullable=True),
        sa.Column("carrier", sa.String(length=100), nullable=True),
        sa.Column("tracking_number", sa.String(length=100), nullable=True),
        sa.Column("shipped_g", sa.BigInteger(), nullable=True),
        sa.Column("shipped_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("shipped_by_id", sa.Uuid(), nullable=True),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("received_by_id", sa.Uuid(), nullable=True),
        sa.Column("cancelled_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("refused_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("refused_by_id", sa.Uuid(), nullable=True),
        sa.Column("refusal_reason", sa.String(length=1000), nullable=True),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("amount_go > 0", name=op.f("ck_redemptions_amount_positive")),
        sa.CheckConstraint(
            "shipped_g IS NULL OR shipped_g >= 0", name=op.f("ck_redemptions_shipped_non_negative")
        ),
        sa.ForeignKeyConstraint(
            ["bill_id"], ["bills.id"], name=op.f("fk_redemptions_bill_id_bills")
        ),
        sa.ForeignKeyConstraint(
            ["work_id"], ["works.id"], name=op.f("fk_redemptions_work_id_works")
        ),
        sa.ForeignKeyConstraint(
            ["farmer_id"], ["farmers.id"], name=op.f("fk_redemptions_farmer_id_farmers")
        ),
        sa.ForeignKeyConstraint(
            ["municipality_id"],
            ["municipalities.id"],
            name=op.f("fk_redemptions_municipality_id_municipalities"),
        ),
        *(
            sa.ForeignKeyConstraint(
                [column],
                ["journal_entries.id"],
                name=op.f(f"fk_redemptions_{column}_journal_entries"),
            )
            for column in _ENTRY_COLUMNS
        ),
        *(
            sa.ForeignKeyConstraint(
                [column], ["users.id"], name=op.f(f"fk_redemptions_{column}_users")
            )
            for column in _USER_COLUMNS
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_redemptions")),
        *(
            sa.UniqueConstraint(column, name=op.f(f"uq_redemptions_{column}"))
            for column in _ENTRY_COLUMNS
        ),
    )
    with op.batch_alter_table("redemptions", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_redemptions_bill_id"), ["bill_id"], unique=False)
        batch_op.create_index("ix_redemptions_holder_id_id", ["holder_id", "id"], unique=False)
        batch_op.create_index(
            "ix_redemptions_farmer_id_state_id", ["farmer_id", "state", "id"], unique=False
        )
        batch_op.create_index(
            "ix_redemptions_municipality_id_state_id",
            ["municipality_id", "state", "id"],
            unique=False,
        )
        batch_op.create_index(
            "ix_redemptions_work_id_state_id", ["work_id", "state", "id"], unique=False
        )
        batch_op.create_index(
            "ix_redemptions_state_shipped_at", ["state", "shipped_at"], unique=False
        )
        batch_op.create_index("ix_redemptions_closed_at", ["closed_at"], unique=False)

    # ``bill-held:<work id>:<user id>`` is 83 characters.
    with op.batch_alter_table("accounts", schema=None) as batch_op:
        batch_op.alter_column(
            "key", existing_type=sa.String(length=80), type_=sa.String(length=100)
        )

    with op.batch_alter_table("municipalities", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "address_retention_days", sa.BigInteger(), server_default="90", nullable=False
            )
        )


def downgrade() -> None:
    with op.batch_alter_table("municipalities", schema=None) as batch_op:
        batch_op.drop_column("address_retention_days")
    with op.batch_alter_table("accounts", schema=None) as batch_op:
        batch_op.alter_column(
            "key", existing_type=sa.String(length=100), type_=sa.String(length=80)
        )
    op.drop_table("redemptions")
