"""Chain settlement and wallets: deployments, signed transactions, wallet challenges.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23 10:45:38.680492
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "chain_deployments",
        sa.Column("chain_id", sa.BigInteger(), nullable=False),
        sa.Column("token_address", sa.String(length=42), nullable=False),
        sa.Column("admin_address", sa.String(length=42), nullable=False),
        sa.Column("minter_address", sa.String(length=42), nullable=False),
        sa.Column("deployed_block", sa.BigInteger(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_chain_deployments")),
        sa.UniqueConstraint("chain_id", name=op.f("uq_chain_deployments_chain_id")),
    )
    op.create_table(
        "chain_transactions",
        sa.Column("chain_id", sa.BigInteger(), nullable=False),
        sa.Column("sender", sa.String(length=42), nullable=False),
        sa.Column("nonce", sa.BigInteger(), nullable=False),
        sa.Column("tx_hash", sa.String(length=66), nullable=False),
        sa.Column("raw_tx", sa.LargeBinary(), nullable=False),
        sa.Column(
            "state",
            sa.Enum(
                "submitted",
                "confirmed",
                "failed",
                "replaced",
                name="transactionstate",
                native_enum=False,
                length=16,
            ),
            nullable=False,
        ),
        sa.Column("operation_count", sa.Integer(), nullable=False),
        sa.Column("block_number", sa.BigInteger(), nullable=True),
        sa.Column("gas_used", sa.BigInteger(), nullable=True),
        sa.Column("last_error", sa.String(length=1000), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_chain_transactions")),
        sa.UniqueConstraint("tx_hash", name=op.f("uq_chain_transactions_tx_hash")),
    )
    with op.batch_alter_table("chain_transactions", schema=None) as batch_op:
        batch_op.create_index(
            "ix_chain_transactions_sender_nonce", ["sender", "nonce"], unique=False
        )
        batch_op.create_index("ix_chain_transactions_state", ["state"], unique=False)

    op.create_table(
        "wallet_challenges",
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("address", sa.String(length=42), nullable=False),
        sa.Column("message", sa.String(length=500), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_wallet_challenges_user_id_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_wallet_challenges")),
    )
    with op.batch_alter_table("wallet_challenges", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_wallet_challenges_user_id"), ["user_id"], unique=False)

    with op.batch_alter_table("chain_operations", schema=None) as batch_op:
        batch_op.add_column(sa.Column("recipient_address", sa.String(length=42), nullable=True))
        batch_op.add_column(sa.Column("transaction_id", sa.Uuid(), nullable=True))
        batch_op.create_index(
            batch_op.f("ix_chain_operations_transaction_id"), ["transaction_id"], unique=False
        )
        batch_op.create_foreign_key(
            batch_op.f("fk_chain_operations_transaction_id_chain_transactions"),
            "chain_transactions",
            ["transaction_id"],
            ["id"],
        )


def downgrade() -> None:
    with op.batch_alter_table("chain_operations", schema=None) as batch_op:
        batch_op.drop_constraint(
            batch_op.f("fk_chain_operations_transaction_id_chain_transactions"), type_="foreignkey"
        )
        batch_op.drop_index(batch_op.f("ix_chain_operations_transaction_id"))
        batch_op.drop_column("transaction_id")
        batch_op.drop_column("recipient_address")

    with op.batch_alter_table("wallet_challenges", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_wallet_challenges_user_id"))

    op.drop_table("wallet_challenges")
    with op.batch_alter_table("chain_transactions", schema=None) as batch_op:
        batch_op.drop_index("ix_chain_transactions_state")
        batch_op.drop_index("ix_chain_transactions_sender_nonce")

    op.drop_table("chain_transactions")
    op.drop_table("chain_deployments")
