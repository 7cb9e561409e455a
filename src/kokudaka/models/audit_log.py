"""The staff audit log: every staff action, hash-chained, and its anchors on the chain.

Each row's hash covers its own fields and the previous row's hash, so changing,
removing or reordering a row breaks the chain from that row on; the head (sequence and
hash) is anchored on-chain regularly, so rewriting the whole chain after a row is
caught too. See :mod:`kokudaka.audit.staff_log` and :mod:`kokudaka.audit.anchoring`.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum

from sqlalchemy import BigInteger, Enum, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from kokudaka.models.base import Base, CreatedAtMixin

GENESIS_HASH = "0" * 64
"""The ``prev_hash`` of the first row: no row comes before it."""


class StaffAction(StrEnum):
    """What a member of staff did. The code is stored and hashed as it is: never rename
    one; add new codes instead."""

    investment_confirm = "investment.confirm"
    """A town administrator confirmed that an investment's payment was received."""
    contribution_approve = "contribution.approve"
    """Volunteer hours approved (by the hosting farmer or the town): KOKU issued."""
    contribution_reject = "contribution.reject"
    """Volunteer hours rejected, with a reason."""
    issuance_reverse = "issuance.reverse"
    """A mistaken issuance reversed by a reversing journal entry."""
    policy_set = "policy.set"
    """A town's season policy (price, volunteer rate, yearly cap) created or replaced."""
    farmer_register = "farmer.register"
    """A farmer's account and profile created by their town's administrator."""
    staff_register = "staff.register"
    """A town administrator, regional auditor or platform administrator created."""
    account_disable = "account.disable"
    account_enable = "account.enable"
    account_password_reset = "account.password_reset"  # noqa: S105 - an action code
    """An administrator set an account's password (the password itself is never logged)."""
    account_unlock = "account.unlock"
    """An administrator lifted an account's sign-in throttle."""
    allowance_set = "allowance.set"
    """A town's on-chain allowance for a season changed (an admin command)."""
    investment_cancel = "investment.cancel"
    """Staff cancelled a supporter's investment awaiting payment."""
    yield_countersign = "yield.countersign"
    """A town administrator countersigned a work's yield report: it is the actual yield."""
    yield_file = "yield.file"
    """A work's yield report filed (by its farmer or their town's administrator)."""
    yield_reject = "yield.reject"
    """A town administrator rejected a work's yield report, with a reason."""
    redemption_ship = "redemption.ship"
    """A redemption of a rice bill marked shipped (by the work's farmer or their town's
    administrator): its 合 burned. The address is never logged."""
    redemption_refuse = "redemption.refuse"
    """A redemption refused by the work's farmer or their town's administrator, with a
    reason: its hold released."""


class StaffLogEntry(Base):
    """One staff action, chained to the one before it by ``prev_hash``.

    Rows are only ever appended (:func:`kokudaka.audit.staff_log.append_staff_action`),
    in the transaction of the action they record, so an action and its row commit or
    roll back together.
    """

    __tablename__ = "staff_audit_log"
    __table_args__ = (
        Index("ix_staff_audit_log_municipality_id_sequence", "municipality_id", "sequence"),
    )

    sequence: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    """1, 2, 3, ... with no gap: the position in the chain (a gap is a removed row)."""
    at: Mapped[datetime]
    """When the action was taken (UTC, to the microsecond)."""
    actor_id: Mapped[uuid.UUID | None]
    """The account that acted; null for an operator's command-line action."""
    actor_role: Mapped[str] = mapped_column(String(32))
    """The actor's role when acting (``town_admin``, ...), or ``operator`` for the CLI."""
    municipality_id: Mapped[uuid.UUID | None]
    """The town the action concerns, for scoping who may read the row; null for actions
    above any one town (a regional auditor's account), which platform staff read."""
    action: Mapped[str] = mapped_column(String(64))
    """A :class:`StaffAction` code."""
    object_type: Mapped[str] = mapped_column(String(64))
    """What was acted on: ``investment``, ``contribution``, ``journal_entry``, ``user``..."""
    object_id: Mapped[str | None] = mapped_column(String(100))
    """Its id (text, so a key that is not a UUID, like ``town:season``, fits)."""
    data: Mapped[str] = mapped_column(Text)
    """The request's data as canonical JSON (sorted keys, no whitespace): stored as the
    exact text that was hashed. Never a password or a secret."""
    prev_hash: Mapped[str] = mapped_column(String(64))
    """The previous row's ``hash`` (hex), or :data:`GENESIS_HASH` for the first row."""
    hash: Mapped[str] = mapped_column(String(64))
    """Hex SHA-256 over the canonical encoding of every field above and ``prev_hash``."""


class StaffLogHead(Base):
    """The chain's head in one row: appends lock it, so they take sequence numbers one
    at a time on every database (and with no gap, unlike a database sequence)."""

    __tablename__ = "staff_audit_head"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    """Always 1."""
    sequence: Mapped[int] = mapped_column(BigInteger)
    """The last row's sequence, 0 while the log is empty."""
    hash: Mapped[str] = mapped_column(String(64))
    """The last row's hash, :data:`GENESIS_HASH` while the log is empty."""


class AnchorState(StrEnum):
    """Where an anchor of the log's head stands on the chain."""

    submitted = "submitted"
    """Sent; its receipt not yet read."""
    confirmed = "confirmed"
    """Mined: the chain holds an ``AuditLogAnchored`` event for it."""
    failed = "failed"
    """Reverted or refused; a later round anchors the head again."""


class StaffLogAnchor(CreatedAtMixin, Base):
    """The log's head as it was sent to the chain (``anchorAuditLog``)."""

    __tablename__ = "staff_audit_anchors"

    sequence: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    """The anchored row's sequence."""
    hash: Mapped[str] = mapped_column(String(64))
    """The anchored row's hash (hex)."""
    tx_hash: Mapped[str | None] = mapped_column(String(66))
    block_number: Mapped[int | None]
    state: Mapped[AnchorState] = mapped_column(Enum(AnchorState, native_enum=False, length=16))
    error: Mapped[str | None] = mapped_column(String(500))
    """Why the anchor failed, when it did."""
