"""Accounts and cap reservations: token revocation on disable, investments reserve
cap room when made.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-27 08:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("token_version", sa.BigInteger(), server_default="0", nullable=False)
        )
    with op.batch_alter_table("municipality_policies", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("reserved_go", sa.BigInteger(), server_default="0", nullable=False)
        )
        batch_op.create_check_constraint("reserved_non_negative", "reserved_go >= 0")
    # Investments already awaiting payment hold their go from now on, as new ones will.
    # Where they exceed the cap (accepted before reservations existed), confirming them
    # is still refused past the cap; they can be cancelled, or the cap raised.
    op.execute(
        "UPDATE municipality_policies SET reserved_go = COALESCE((SELECT SUM(v.go_amount) "
        "FROM investments v JOIN works w ON w.id = v.work_id "
        "WHERE v.municipality_id = municipality_policies.municipality_id "
        "AND w.season = municipality_policies.season "
        "AND v.status = 'pending_payment'), 0)"
    )


def downgrade() -> None:
    with op.batch_alter_table("municipality_policies", schema=None) as batch_op:
        batch_op.drop_constraint("reserved_non_negative", type_="check")
        batch_op.drop_column("reserved_go")
    # Not in batch mode: on SQLite that would copy and drop the users table, which every
    # other table references; a plain DROP COLUMN (SQLite 3.35+) leaves it in place.
    op.drop_column("users", "token_version")
