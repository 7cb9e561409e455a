"""Anchoring the staff audit log's head on chain, and reading the anchors back.

The chain runtime calls :func:`anchor_head` every ``KOKUDAKA_AUDIT_ANCHOR_SECONDS``
(:class:`AnchorSchedule`): when the head moved since the last anchor, its sequence and
hash go into ``anchorAuditLog(sequence, head)``, signed by the anchor key (which can do
nothing else), and the contract emits ``AuditLogAnchored``. Whoever later rewrites the
log in the database, head included, cannot rewrite those events: ``kokudaka audit
verify`` reads them (:func:`chain_anchors`) and compares each with the row it names.

Each attempt is recorded in ``staff_audit_anchors`` (submitted, then confirmed with its
transaction and block, or failed with the reason); the chain's ``lastAnchor`` decides
what is new, so a crash between sending and recording costs at most one extra anchor.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from kokudaka.audit.staff_log import heads
from kokudaka.audit.verification import ChainAnchor
from kokudaka.chain.client import ChainClient, PrivateKey
from kokudaka.chain.deployment import anchor_key as deployment_anchor_key
from kokudaka.chain.errors import ChainError, TransactionReverted
from kokudaka.chain.interface import ANCHOR_NOT_NEWER
from kokudaka.core.settings import Settings
from kokudaka.models import AnchorState, StaffLogAnchor

logger = logging.getLogger(__name__)

DEFAULT_ANCHOR_SECONDS = 60.0


@dataclass(frozen=True, slots=True)
class AnchorOutcome:
    """One anchoring attempt."""

    sequence: int
    hash: str
    state: AnchorState
    tx_hash: str | None = None
    block_number: int | None = None
    error: str | None = None


def _record(sessions: sessionmaker[Session], outcome: AnchorOutcome) -> None:
    with sessions.begin() as session:
        session.merge(
            StaffLogAnchor(
                sequence=outcome.sequence,
                hash=outcome.hash,
                state=outcome.state,
                tx_hash=outcome.tx_hash,
                block_number=outcome.block_number,
                error=outcome.error,
            )
        )


def anchor_head(
    sessions: sessionmaker[Session],
    client: ChainClient,
    anchor_key: PrivateKey,
    *,
    timeout: float = 60.0,
) -> AnchorOutcome | None:
    """Anchor the log's head if it moved past the chain's last anchor; ``None`` if not.

    The client must point at the KOKU contract. Chain errors are recorded as a failed
    anchor and returned, not raised: the next round tries again with the head as it is
    then.
    """
    with sessions() as session:
        head = session.execute(select(heads.c.sequence, heads.c.hash)).first()
    if head is None or head.sequence == 0:
        return None
    anchored_sequence, _ = client.last_anchor()
    if head.sequence <= anchored_sequence:
        return None
    pending = AnchorOutcome(int(head.sequence), str(head.hash), AnchorState.submitted)
    _record(sessions, pending)
    try:
        tx_hash = client.anchor_audit_log(
            anchor_key, pending.sequence, bytes.fromhex(pending.hash), timeout=timeout
        )
        receipt = client.wait_receipt(tx_hash, timeout=timeout)
    except TransactionReverted as error:
        # AnchorNotNewer: another process anchored this head (or a later one) first.
        state = AnchorState.confirmed if error.error_name == ANCHOR_NOT_NEWER else None
        outcome = AnchorOutcome(
            pending.sequence,
            pending.hash,
            state or AnchorState.failed,
            error=None if state else str(error)[:500],
        )
    except ChainError as error:
        outcome = AnchorOutcome(
            pending.sequence, pending.hash, AnchorState.failed, error=str(error)[:500]
        )
    else:
        outcome = AnchorOutcome(
            pending.sequence,
            pending.hash,
            AnchorState.confirmed,
            tx_hash=tx_hash,
            block_number=int(receipt["blockNumber"]),
        )
    _record(sessions, outcome)
    if outcome.state is AnchorState.failed:
        logger.warning("anchoring staff audit row %s failed: %s", outcome.sequence, outcome.error)
    return outcome


def chain_anchors(client: ChainClient, from_block: int = 0) -> list[ChainAnchor]:
    """Every ``AuditLogAnchored`` event of the contract the client points at."""
    return [
        ChainAnchor(
            sequence=event.sequence,
            hash=event.head.hex(),
            tx_hash=event.tx_hash,
            block_number=event.block_number,
        )
        for event in client.anchored_events(from_block)
    ]


def anchor_schedule(
    settings: Settings, sessions: sessionmaker[Session], rpc_url: str, token_address: str
) -> AnchorSchedule:
    """The chain runtime's schedule: the anchor key of ``settings``, every
    ``KOKUDAKA_AUDIT_ANCHOR_SECONDS``. Run it in a thread with the runtime's stop event:
    ``schedule.run(stop)``."""
    return AnchorSchedule(
        sessions,
        lambda: ChainClient(rpc_url, koku_address=token_address),
        deployment_anchor_key(settings),
        settings.audit_anchor_seconds,
    )


class AnchorSchedule:
    """Anchors the head every ``interval_seconds`` from a thread of the chain runtime:
    ``threading.Thread(target=schedule.run, args=(stop,))``."""

    def __init__(
        self,
        sessions: sessionmaker[Session],
        client_factory: Callable[[], ChainClient],
        anchor_key: PrivateKey,
        interval_seconds: float = DEFAULT_ANCHOR_SECONDS,
    ) -> None:
        self.sessions = sessions
        self.client_factory = client_factory
        self.anchor_key = anchor_key
        self.interval_seconds = interval_seconds

    def run(self, stop: threading.Event) -> None:
        """Anchor, then wait the interval, until ``stop`` is set."""
        client: ChainClient | None = None
        while not stop.is_set():
            started = time.monotonic()
            try:
                client = client or self.client_factory()
                anchor_head(self.sessions, client, self.anchor_key)
            except (ChainError, SQLAlchemyError) as error:
                # The node or the database is down or restarting: try again next round.
                logger.warning("anchoring the staff audit log: %s", error)
                client = None
            stop.wait(max(self.interval_seconds - (time.monotonic() - started), 0.0))
