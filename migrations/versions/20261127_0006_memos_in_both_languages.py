"""Journal memos in both languages: each entry keeps its memo's code and values, so the
API renders it in the reader's language.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-27 08:00:02
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("journal_entries", schema=None) as batch_op:
        batch_op.add_column(sa.Column("memo_code", sa.String(length=32), nullable=True))
        batch_op.add_column(sa.Column("memo_params", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("journal_entries", schema=None) as batch_op:
        batch_op.drop_column("memo_params")
        batch_op.drop_column("memo_code")
