"""Town minters: one minter key per municipality; the deployment records its anchor key.

Each town is its own issuer on chain, so each gets a minter key of its own, encrypted at rest
like custodial wallet keys. This migration creates the table only: it cannot make the keys,
because encrypting them needs ``KOKUDAKA_WALLET_ENCRYPTION_KEY``, which migrations never see.
Towns that exist before it get their keys from ``kokudaka.towns.minters.ensure_town_minters``,
which ``serve``, ``worker`` and the ``chain`` commands run at start.

``chain_deployments.minter_address`` (the one minter of every town) becomes ``anchor_address``
(the key that anchors the staff audit log). A row recorded before this revision is of an older
KOKU contract, which the service refuses at start anyway, so the address carried over is never
used as an anchor.

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-27 10:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "town_minters",
        sa.Column("municipality_id", sa.Uuid(), nullable=False),
        sa.Column("address", sa.String(length=42), nullable=False),
        sa.Column("key_ciphertext", sa.LargeBinary(), nullable=False),
        sa.Column(
            "state",
            sa.Enum("active", "retired", name="townminterstate", native_enum=False, length=16),
            nullable=False,
        ),
        sa.Column("retired_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["municipality_id"],
            ["municipalities.id"],
            name=op.f("fk_town_minters_municipality_id_municipalities"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_town_minters")),
        sa.UniqueConstraint("address", name=op.f("uq_town_minters_address")),
    )
    op.create_index("ix_town_minters_municipality_id", "town_minters", ["municipality_id"])
    # At most one active key per town, as the chain knows one minter per town.
    op.create_index(
        "uq_town_minters_active_municipality_id",
        "town_minters",
        ["municipality_id"],
        unique=True,
        sqlite_where=sa.text("state = 'active'"),
        postgresql_where=sa.text("state = 'active'"),
    )
    with op.batch_alter_table("chain_deployments") as batch:
        batch.alter_column("minter_address", new_column_name="anchor_address")


def downgrade() -> None:
    with op.batch_alter_table("chain_deployments") as batch:
        batch.alter_column("anchor_address", new_column_name="minter_address")
    op.drop_index("uq_town_minters_active_municipality_id", table_name="town_minters")
    op.drop_index("ix_town_minters_municipality_id", table_name="town_minters")
    op.drop_table("town_minters")
