"""A town's due chain operations, in the order its worker claims them.

The settlement worker claims ``WHERE municipality_id = ? AND state = 'pending' AND
next_attempt_at <= now ORDER BY next_attempt_at LIMIT n``. With ``(municipality_id, state)``
alone, every claim read and sorted all of the town's pending operations (20,000 after a
harvest's conversion) to take the first 1,260. ``next_attempt_at`` joins that index, which the
console's counts per town and state still use through its prefix.

Revision ID: 0017
Revises: 0016
Create Date: 2026-11-27 17:00:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0017"
down_revision: str | None = "0016"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index(
        "ix_chain_operations_municipality_id_state_next_attempt_at",
        "chain_operations",
        ["municipality_id", "state", "next_attempt_at"],
    )
    op.drop_index("ix_chain_operations_municipality_id_state", table_name="chain_operations")


def downgrade() -> None:
    op.create_index(
        "ix_chain_operations_municipality_id_state",
        "chain_operations",
        ["municipality_id", "state"],
    )
    op.drop_index(
        "ix_chain_operations_municipality_id_state_next_attempt_at",
        table_name="chain_operations",
    )
