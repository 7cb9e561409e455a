"""The staff audit log: staff actions hash-chained, its head, and its anchors on chain.

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-27 10:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "staff_audit_log",
        sa.Column("sequence", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actor_id", sa.Uuid(), nullable=True),
        sa.Column("actor_role", sa.String(length=32), nullable=False),
        sa.Column("municipality_id", sa.Uuid(), nullable=True),
        sa.Column("action", sa.String(length=64), nullable=False),
        sa.Column("object_type", sa.String(length=64), nullable=False),
        sa.Column("object_id", sa.String(length=100), nullable=True),
        sa.Column("data", sa.Text(), nullable=False),
        sa.Column("prev_hash", sa.String(length=64), nullable=False),
        sa.Column("hash", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("sequence", name=op.f("pk_staff_audit_log")),
    )
    # A town's rows newest first (the auditors' list) read from one index range.
    op.create_index(
        "ix_staff_audit_log_municipality_id_sequence",
        "staff_audit_log",
        ["municipality_id", "sequence"],
    )
    op.create_table(
        "staff_audit_head",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("sequence", sa.BigInteger(), nullable=False),
        sa.Column("hash", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_staff_audit_head")),
    )
    op.create_table(
        "staff_audit_anchors",
        sa.Column("sequence", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("hash", sa.String(length=64), nullable=False),
        sa.Column("tx_hash", sa.String(length=66), nullable=True),
        sa.Column("block_number", sa.BigInteger(), nullable=True),
        sa.Column(
            "state",
            sa.Enum(
                "submitted", "confirmed", "failed", name="anchorstate", native_enum=False, length=16
            ),
            nullable=False,
        ),
        sa.Column("error", sa.String(length=500), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("sequence", name=op.f("pk_staff_audit_anchors")),
    )


def downgrade() -> None:
    op.drop_table("staff_audit_anchors")
    op.drop_table("staff_audit_head")
    op.drop_index("ix_staff_audit_log_municipality_id_sequence", table_name="staff_audit_log")
    op.drop_table("staff_audit_log")
