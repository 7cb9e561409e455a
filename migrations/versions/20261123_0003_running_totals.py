"""Running totals on the rows that are locked anyway: issued go per town and season,
subscribed yen per work.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-23 11:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("municipality_policies", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("issued_go", sa.BigInteger(), server_default="0", nullable=False)
        )
        batch_op.create_check_constraint("issued_non_negative", "issued_go >= 0")
    with op.batch_alter_table("works", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("subscribed_yen", sa.BigInteger(), server_default="0", nullable=False)
        )
        batch_op.create_check_constraint("subscribed_non_negative", "subscribed_yen >= 0")
    # Existing data: start the totals from the rows they summarise.
    op.execute(
        "UPDATE municipality_policies SET issued_go = COALESCE((SELECT SUM(i.amount_go) "
        "FROM issuances i WHERE i.municipality_id = municipality_policies.municipality_id "
        "AND i.season = municipality_policies.season), 0)"
    )
    op.execute(
        "UPDATE works SET subscribed_yen = COALESCE((SELECT SUM(v.amount_yen) "
        "FROM investments v WHERE v.work_id = works.id AND v.status <> 'cancelled'), 0)"
    )


def downgrade() -> None:
    with op.batch_alter_table("works", schema=None) as batch_op:
        batch_op.drop_constraint("subscribed_non_negative", type_="check")
        batch_op.drop_column("subscribed_yen")
    with op.batch_alter_table("municipality_policies", schema=None) as batch_op:
        batch_op.drop_constraint("issued_non_negative", type_="check")
        batch_op.drop_column("issued_go")
