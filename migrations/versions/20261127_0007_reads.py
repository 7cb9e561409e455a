"""Fast reads: running balances on accounts, so a balance is one row whatever the postings,
and an index for an account's history newest first.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-27 08:00:03
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("accounts", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("balance_go", sa.BigInteger(), server_default="0", nullable=False)
        )
    op.create_index("ix_postings_account_id_id", "postings", ["account_id", "id"])
    # Existing data: start each balance from the postings it sums.
    op.execute(
        "UPDATE accounts SET balance_go = COALESCE((SELECT SUM(p.amount_go) "
        "FROM postings p WHERE p.account_id = accounts.id), 0)"
    )


def downgrade() -> None:
    op.drop_index("ix_postings_account_id_id", table_name="postings")
    with op.batch_alter_table("accounts", schema=None) as batch_op:
        batch_op.drop_column("balance_go")
