"""Reconciliation: the SQL ledger and its chain outbox against the KOKU contract.

Every issuance is a journal entry in SQL *and* a mint on the chain; this module proves they
agree, for the town's audit (``GET /v1/audit/reconciliation``, ``kokudaka audit reconcile``):

- ledger vs outbox (SQL only): every issuance has exactly one mint operation of the same amount
  and recipient, every reversal exactly one burn, and each person's holder balance (postings)
  equals their operations' net (mints minus burns, whatever their chain state);
- outbox vs events: every confirmed operation has its ``Minted``/``Burned`` event, by reference,
  with the same amount and address; every event belongs to an operation (else it is an unknown
  mint or burn); no reference appears twice;
- balances: per ADDRESS, not per person, since a person who switched to a self-custody wallet
  keeps earlier KOKU at their custodial address: confirmed mints minus confirmed burns to the
  address (plus operations already mined but not yet marked confirmed) equals ``balanceOf``;
- with every municipality in scope: the same sum equals ``totalSupply``, and the minter's
  allowance equals its last configured allowance minus what SQL minted since.

Speed: the ledger is read first, in a handful of streamed or aggregated statements; then every
event is fetched with chunked ``eth_getLogs`` and decoded by hand (lower-case hex, no checksum
hashing), and balances are read with JSON-RPC batches of ``eth_call``, all pinned to one block.
Everything is compared in dictionaries. Reading SQL before the chain keeps a concurrent worker
from producing false alarms: an operation confirmed in the SQL snapshot was mined before the
block read afterwards; one mined but not yet confirmed is counted as in flight; an event whose
operation was created after the snapshot is looked up again before it is called unknown.
"""

from __future__ import annotations

import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import datetime
from enum import StrEnum
from typing import Any, Final, Literal, NamedTuple, TextIO

from eth_utils.address import to_checksum_address
from eth_utils.crypto import keccak
from pydantic import BaseModel, Field
from sqlalchemy import (
    BigInteger,
    String,
    and_,
    case,
    func,
    literal_column,
    or_,
    select,
    true,
    type_coerce,
)
from sqlalchemy.engine import Engine, create_engine, make_url
from sqlalchemy.orm import Session
from web3.providers.base import JSONBaseProvider
from web3.types import RPCEndpoint

from kokudaka.chain.client import ChainClient
from kokudaka.chain.errors import ChainError, ChainUnavailable, map_chain_error
from kokudaka.core.db import create_db_engine
from kokudaka.core.settings import Settings
from kokudaka.models import (
    Account,
    AccountKind,
    ChainDeployment,
    ChainOperation,
    ChainOperationKind,
    ChainState,
    Issuance,
    Municipality,
    Posting,
    User,
    utcnow,
)

__all__ = [
    "Discrepancy",
    "DiscrepancyKind",
    "Progress",
    "ReconciliationCounts",
    "ReconciliationReport",
    "reconcile",
]

Progress = Callable[[str, int], None]
"""Called as ``progress(phase, items_done)`` every ``progress_every`` items of a phase
(operations, minted events, burned events) and after each batch of balances."""

PROGRESS_EVERY: Final = 50_000
#: Discrepancies listed in a report by default; the counts always cover all of them.
DEFAULT_LIMIT: Final = 1_000
#: ``eth_call``s per JSON-RPC batch request.
BALANCE_BATCH: Final = 1_000
#: Blocks per ``eth_getLogs`` request (halved by the client when a node refuses the range).
LOG_CHUNK_BLOCKS: Final = 2_000
_YIELD_PER: Final = 20_000
_IN_BATCH: Final = 500

_MINTED_TOPIC: Final = "0x" + keccak(text="Minted(bytes32,address,uint256,address)").hex()
_BURNED_TOPIC: Final = "0x" + keccak(text="Burned(bytes32,address,uint256,address)").hex()
_CONFIGURED_TOPIC: Final = "0x" + keccak(text="MinterConfigured(address,uint256)").hex()
_REMOVED_TOPIC: Final = "0x" + keccak(text="MinterRemoved(address)").hex()
_BALANCE_OF: Final = "0x" + keccak(text="balanceOf(address)")[:4].hex()
_TOTAL_SUPPLY: Final = "0x" + keccak(text="totalSupply()")[:4].hex()
_MINTER_ALLOWANCE: Final = "0x" + keccak(text="minterAllowance(address)")[:4].hex()

_ZERO: Final = literal_column("0", BigInteger())
_CONFIRMED: Final = ChainState.confirmed.value
_FAILED: Final = ChainState.failed.value
_MINT: Final = ChainOperationKind.mint.value


class DiscrepancyKind(StrEnum):
    """What disagrees. Amounts in ``expected``/``actual`` are integer go."""

    # outbox vs events
    mint_missing_on_chain = "mint_missing_on_chain"
    """SQL says confirmed, the chain has no ``Minted`` event for the reference."""
    mint_amount_mismatch = "mint_amount_mismatch"
    mint_recipient_mismatch = "mint_recipient_mismatch"
    confirmed_without_address = "confirmed_without_address"
    """A confirmed operation with no recipient (or burned-from) address recorded."""
    unknown_mint = "unknown_mint"
    """A ``Minted`` event whose reference no operation in SQL has."""
    duplicate_mint_event = "duplicate_mint_event"
    burn_missing_on_chain = "burn_missing_on_chain"
    burn_amount_mismatch = "burn_amount_mismatch"
    burn_address_mismatch = "burn_address_mismatch"
    unknown_burn = "unknown_burn"
    duplicate_burn_event = "duplicate_burn_event"
    operation_failed = "operation_failed"
    """An operation the chain refused for good: the ledger holds KOKU the chain never will."""
    # chain state
    balance_mismatch = "balance_mismatch"
    total_supply_mismatch = "total_supply_mismatch"
    minter_allowance_mismatch = "minter_allowance_mismatch"
    # ledger vs outbox
    issuance_without_mint = "issuance_without_mint"
    issuance_mint_mismatch = "issuance_mint_mismatch"
    duplicate_mint_operation = "duplicate_mint_operation"
    reversal_without_burn = "reversal_without_burn"
    reversal_burn_mismatch = "reversal_burn_mismatch"
    burn_without_reversal = "burn_without_reversal"
    ledger_outbox_mismatch = "ledger_outbox_mismatch"
    """A holder account's postings differ from the net of the person's operations."""


class Discrepancy(BaseModel):
    kind: DiscrepancyKind
    municipality_id: uuid.UUID | None = None
    user_id: uuid.UUID | None = None
    account: str | None = Field(default=None, description="Ledger account key, e.g. holder:<id>")
    address: str | None = None
    issuance_id: uuid.UUID | None = None
    reference: str | None = Field(default=None, description="The operation's bytes32 reference")
    expected: int | str | None = Field(default=None, description="What SQL says")
    actual: int | str | None = Field(default=None, description="What the chain (or SQL) has")
    tx_hash: str | None = None
    detail: str | None = None


class ReconciliationCounts(BaseModel):
    operations: int = Field(description="Chain operations in scope")
    confirmed: int
    in_flight: int = Field(description="Mined on chain, not yet marked confirmed in SQL")
    not_yet_on_chain: int = Field(description="Pending or submitted, no event yet")
    failed: int
    issuances: int = Field(description="Issuances in scope")
    minted_events: int = Field(description="Minted events on chain (all municipalities)")
    burned_events: int
    addresses: int = Field(description="Addresses whose balanceOf was compared")
    users: int = Field(description="People whose ledger balance was compared with the outbox")
    discrepancies: int
    by_kind: dict[str, int]


class ReconciliationReport(BaseModel):
    status: Literal["clean", "discrepancies"]
    checked_at: datetime
    duration_seconds: float
    chain_id: int
    token_address: str
    block_number: int = Field(description="Every chain read is pinned to this block")
    scope: Literal["all", "municipalities"]
    municipality_ids: list[uuid.UUID] | None
    supply_checked: bool = Field(
        description="totalSupply and the minter allowance are only "
        "meaningful when every municipality is in scope"
    )
    counts: ReconciliationCounts
    discrepancies: list[Discrepancy]
    truncated: bool = Field(description="More discrepancies than listed; see counts.by_kind")


class _Op(NamedTuple):
    """One outbox row as the comparison needs it (no UUIDs: parsing them is the slow part)."""

    state: str
    amount: int
    address: str | None
    """Lower-case hex, or None while unsent."""
    in_scope: bool


class _Event(NamedTuple):
    address: str
    """Recipient (mint) or burned-from (burn), lower-case hex."""
    amount: int
    tx_hash: str
    spends_allowance: bool
    """A mint by the deployment's minter after its last allowance configuration."""


class _Findings:
    """Counts every discrepancy, keeps the first ``limit`` for the report."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.by_kind: Counter[str] = Counter()
        self.items: list[Discrepancy] = []

    def add(self, kind: DiscrepancyKind, **fields: Any) -> None:
        self.by_kind[kind.value] += 1
        if len(self.items) < self.limit:
            self.items.append(Discrepancy(kind=kind, **fields))

    @property
    def total(self) -> int:
        return sum(self.by_kind.values())


def _chunks(values: Sequence[Any], size: int = _IN_BATCH) -> Iterator[Sequence[Any]]:
    for start in range(0, len(values), size):
        yield values[start : start + size]


class _Ticker:
    """Reports ``(phase, done)`` to a progress callback every ``every`` items."""

    def __init__(self, progress: Progress | None, every: int) -> None:
        self.progress = progress
        self.every = max(every, 1)

    def __call__(self, phase: str, done: int) -> None:
        if self.progress is not None and done % self.every == 0:
            self.progress(phase, done)

    def always(self, phase: str, done: int) -> None:
        if self.progress is not None:
            self.progress(phase, done)


# ---------------------------------------------------------------- SQL: the ledger snapshot


class _Ledger:
    def __init__(self) -> None:
        self.mints: dict[str, _Op] = {}
        self.burns: dict[str, _Op] = {}
        self.operations = 0
        self.issuances = 0
        self.users = 0


def _read_operations(session: Session, scope: Sequence[uuid.UUID] | None, tick: _Ticker) -> _Ledger:
    """Every chain operation (all towns: balances and unknown events need them), one pass."""
    op = ChainOperation.__table__.c
    in_scope = true() if scope is None else op.municipality_id.in_(scope)
    statement = select(
        type_coerce(op.kind, String),
        type_coerce(op.state, String),
        op.reference,
        op.amount_go,
        op.recipient_address,
        in_scope,
    ).execution_options(yield_per=_YIELD_PER)
    ledger = _Ledger()
    mints, burns = ledger.mints, ledger.burns
    for done, (kind, state, reference, amount, address, scoped) in enumerate(
        session.execute(statement), start=1
    ):
        row = _Op(state, amount, address.lower() if address else None, bool(scoped))
        (mints if kind == _MINT else burns)[reference] = row
        if scoped:
            ledger.operations += 1
        tick("operations", done)
    return ledger


def _scoped(column: Any, scope: Sequence[uuid.UUID] | None) -> Any:
    return true() if scope is None else column.in_(scope)


def _check_ledger_vs_outbox(
    session: Session, scope: Sequence[uuid.UUID] | None, ledger: _Ledger, findings: _Findings
) -> None:
    """Issuance ↔ mint, reversal ↔ burn, and holder postings ↔ operations: in SQL, each one
    statement (so each sees one snapshot) that returns only the rows that disagree."""
    i, o = Issuance, ChainOperation
    ledger.issuances = int(
        session.scalar(select(func.count()).select_from(i).where(_scoped(i.municipality_id, scope)))
        or 0
    )
    mint = o.__table__.alias("mint_op")
    rows = session.execute(
        select(
            i.id, i.municipality_id, i.recipient_id, i.amount_go, mint.c.amount_go, mint.c.user_id
        )
        .outerjoin(mint, and_(mint.c.issuance_id == i.id, mint.c.kind == ChainOperationKind.mint))
        .where(
            _scoped(i.municipality_id, scope),
            or_(
                mint.c.id.is_(None),
                mint.c.amount_go != i.amount_go,
                mint.c.user_id != i.recipient_id,
                mint.c.municipality_id != i.municipality_id,
                mint.c.entry_id != i.entry_id,
            ),
        )
    )
    for issuance_id, town, recipient, amount, op_amount, op_user in rows:
        if op_amount is None:
            findings.add(
                DiscrepancyKind.issuance_without_mint,
                issuance_id=issuance_id,
                municipality_id=town,
                user_id=recipient,
                account=f"holder:{recipient}",
                expected=amount,
            )
        else:
            findings.add(
                DiscrepancyKind.issuance_mint_mismatch,
                issuance_id=issuance_id,
                municipality_id=town,
                user_id=recipient,
                account=f"holder:{recipient}",
                expected=amount,
                actual=op_amount,
                detail=None if op_user == recipient else f"operation for user {op_user}",
            )
    duplicates = session.execute(
        select(o.issuance_id, o.municipality_id, func.count())
        .where(o.kind == ChainOperationKind.mint, _scoped(o.municipality_id, scope))
        .group_by(o.issuance_id, o.municipality_id)
        .having(func.count() > 1)
    )
    for issuance_id, town, count in duplicates:
        findings.add(
            DiscrepancyKind.duplicate_mint_operation,
            issuance_id=issuance_id,
            municipality_id=town,
            expected=1,
            actual=count,
        )
    burn = o.__table__.alias("burn_op")
    rows = session.execute(
        select(i.id, i.municipality_id, i.recipient_id, i.amount_go, burn.c.amount_go)
        .outerjoin(
            burn,
            and_(burn.c.entry_id == i.reversal_entry_id, burn.c.kind == ChainOperationKind.burn),
        )
        .where(
            _scoped(i.municipality_id, scope),
            i.reversal_entry_id.is_not(None),
            or_(
                burn.c.id.is_(None),
                burn.c.amount_go != i.amount_go,
                burn.c.user_id != i.recipient_id,
            ),
        )
    )
    for issuance_id, town, recipient, amount, op_amount in rows:
        findings.add(
            DiscrepancyKind.reversal_without_burn
            if op_amount is None
            else DiscrepancyKind.reversal_burn_mismatch,
            issuance_id=issuance_id,
            municipality_id=town,
            user_id=recipient,
            account=f"holder:{recipient}",
            expected=amount,
            actual=op_amount,
        )
    orphans = session.execute(
        select(o.reference, o.issuance_id, o.municipality_id, o.user_id, o.amount_go)
        .outerjoin(i, and_(i.id == o.issuance_id, i.reversal_entry_id == o.entry_id))
        .where(
            o.kind == ChainOperationKind.burn,
            _scoped(o.municipality_id, scope),
            i.id.is_(None),
        )
    )
    for reference, issuance_id, town, user_id, amount in orphans:
        findings.add(
            DiscrepancyKind.burn_without_reversal,
            reference=reference,
            issuance_id=issuance_id,
            municipality_id=town,
            user_id=user_id,
            actual=amount,
        )

    # Holder balance vs the outbox's net, per person: one UNION ALL, grouped, so postings
    # and operations come from the same snapshot even under READ COMMITTED.
    a, p = Account, Posting
    postings = (
        select(a.user_id.label("user_id"), p.amount_go.label("ledger"), _ZERO.label("outbox"))
        .select_from(p)
        .join(a, a.id == p.account_id)
        .where(a.kind == AccountKind.holder)
    )
    signed = case((o.kind == ChainOperationKind.mint, o.amount_go), else_=-o.amount_go)
    outbox = select(o.user_id.label("user_id"), _ZERO.label("ledger"), signed.label("outbox"))
    both = postings.union_all(outbox).subquery()
    grouped = (
        select(both.c.user_id, func.sum(both.c.ledger), func.sum(both.c.outbox))
        .where(both.c.user_id.is_not(None))
        .group_by(both.c.user_id)
    )
    if scope is not None:
        grouped = grouped.where(
            both.c.user_id.in_(select(o.user_id).where(o.municipality_id.in_(scope)))
        )
    for user_id, ledger_go, outbox_go in session.execute(grouped):
        ledger.users += 1
        if int(ledger_go) != int(outbox_go):
            findings.add(
                DiscrepancyKind.ledger_outbox_mismatch,
                user_id=user_id,
                account=f"holder:{user_id}",
                expected=int(ledger_go),
                actual=int(outbox_go),
                detail="expected: holder postings; actual: mints minus burns in the outbox",
            )


def _known_references(
    session: Session, references: Sequence[str]
) -> dict[str, tuple[str, uuid.UUID]]:
    """Operations created after the snapshot, looked up again (a statement of its own, so
    under READ COMMITTED it sees what the worker committed since)."""
    found: dict[str, tuple[str, uuid.UUID]] = {}
    op = ChainOperation
    for chunk in _chunks(references):
        rows = session.execute(
            select(op.reference, type_coerce(op.kind, String), op.municipality_id).where(
                op.reference.in_(chunk)
            )
        )
        for reference, kind, town in rows:
            found[reference] = (kind, town)
    return found


# ---------------------------------------------------------------- chain: events and state


def _topic_of(address: str) -> str:
    return "0x" + "0" * 24 + address.lower().removeprefix("0x")


def _logs(
    client: ChainClient, topic: str, from_block: int, to_block: int
) -> Iterator[dict[str, Any]]:
    # The client's chunked eth_getLogs (it halves a range a node refuses); decoding here,
    # by hand and without EIP-55 checksums, is what makes a million events affordable:
    # ``minted_events`` checksums two addresses per event, ~80 µs each.
    return client._logs(topic, from_block, to_block, LOG_CHUNK_BLOCKS)


def _last_allowance(
    client: ChainClient, minter_topic: str, from_block: int, block: int
) -> tuple[int, tuple[int, int]] | None:
    """The minter's last configured allowance and where it was set (a removal sets zero)."""
    last: tuple[int, tuple[int, int]] | None = None
    for topic in (_CONFIGURED_TOPIC, _REMOVED_TOPIC):
        for log in _logs(client, topic, from_block, block):
            if log["topics"][1] != minter_topic:
                continue
            position = (int(log["blockNumber"], 16), int(log["logIndex"], 16))
            allowance = int(log["data"], 16) if topic == _CONFIGURED_TOPIC else 0
            if last is None or position > last[1]:
                last = (allowance, position)
    return last


def _fetch_events(
    client: ChainClient,
    topic: str,
    from_block: int,
    block: int,
    *,
    minter_topic: str,
    allowance_set_at: tuple[int, int] | None,
    tick: _Ticker,
    phase: str,
) -> tuple[dict[str, _Event], list[tuple[str, _Event]], int]:
    """Events by reference (lower-case ``0x`` hex, as SQL stores it), duplicates, count."""
    events: dict[str, _Event] = {}
    duplicates: list[tuple[str, _Event]] = []
    count = 0
    for log in _logs(client, topic, from_block, block):
        topics = log["topics"]
        spends = False
        if allowance_set_at is not None and topics[3] == minter_topic:
            spends = (int(log["blockNumber"], 16), int(log["logIndex"], 16)) > allowance_set_at
        event = _Event("0x" + topics[2][-40:], int(log["data"], 16), log["transactionHash"], spends)
        reference = topics[1]
        if reference in events:
            duplicates.append((reference, event))
        else:
            events[reference] = event
        count += 1
        tick(phase, count)
    return events, duplicates, count


def _eth_calls(
    client: ChainClient,
    token: str,
    calldata: Sequence[str],
    block_tag: str,
    tick: _Ticker | None = None,
) -> list[int]:
    """``eth_call``s returning one uint256 each, sent as JSON-RPC batches at ``block_tag``."""
    provider = client.web3.provider
    if not isinstance(provider, JSONBaseProvider):
        raise ChainError(f"{type(provider).__name__} cannot send JSON-RPC batches")
    values: list[int] = []
    for chunk in _chunks(calldata, BALANCE_BATCH):
        batch = [
            (RPCEndpoint("eth_call"), [{"to": token, "data": data}, block_tag]) for data in chunk
        ]
        try:
            responses = provider.make_batch_request(batch)
        except Exception as exc:
            raise map_chain_error(exc, context="eth_call batch") from exc
        if not isinstance(responses, list) or len(responses) != len(batch):
            raise ChainError(f"eth_call batch refused: {responses!r:.300}")
        for response in responses:
            result = response.get("result")
            if "error" in response or not isinstance(result, str) or len(result) < 3:
                raise ChainError(f"eth_call failed: {response.get('error', result)!r:.300}")
            values.append(int(result, 16))
        if tick is not None:
            tick.always("balances", len(values))
    return values


# ---------------------------------------------------------------- the reconciliation


_MINT_KINDS: Final = (
    DiscrepancyKind.mint_missing_on_chain,
    DiscrepancyKind.mint_amount_mismatch,
    DiscrepancyKind.mint_recipient_mismatch,
    DiscrepancyKind.unknown_mint,
    DiscrepancyKind.duplicate_mint_event,
)
_BURN_KINDS: Final = (
    DiscrepancyKind.burn_missing_on_chain,
    DiscrepancyKind.burn_amount_mismatch,
    DiscrepancyKind.burn_address_mismatch,
    DiscrepancyKind.unknown_burn,
    DiscrepancyKind.duplicate_burn_event,
)
_ADDRESS_VALUED: Final = frozenset(
    {DiscrepancyKind.mint_recipient_mismatch, DiscrepancyKind.burn_address_mismatch}
)


def reconcile(
    session: Session,
    client: ChainClient,
    deployment: ChainDeployment,
    municipality_ids: Iterable[uuid.UUID] | None = None,
    progress: Progress | None = None,
    *,
    limit: int = DEFAULT_LIMIT,
    progress_every: int = PROGRESS_EVERY,
) -> ReconciliationReport:
    """Compare the ledger and outbox in ``session`` with the KOKU contract of ``deployment``.

    ``municipality_ids=None`` checks everything, including ``totalSupply`` and the minter
    allowance; a list restricts the report to those towns' operations, issuances, people and
    the addresses their operations used (an address's balance is still compared with every
    town's operations to it: the chain knows no towns). Chain failures raise
    :class:`~kokudaka.chain.errors.ChainError`; SQL is only read.
    """
    started = time.monotonic()
    checked_at = utcnow()
    scope = None if municipality_ids is None else list(dict.fromkeys(municipality_ids))
    scope_set = set(scope or ())
    token = to_checksum_address(deployment.token_address)
    if client.koku_address != token:
        raise ValueError(f"the client uses {client.koku_address}, the deployment is {token}")
    findings = _Findings(limit)

    # 1. The ledger, before the chain (see the module docstring).
    tick = _Ticker(progress, progress_every)
    ledger = _read_operations(session, scope, tick)
    _check_ledger_vs_outbox(session, scope, ledger, findings)

    # 2. The chain, every read pinned to one block.
    chain_id = client.chain_id()
    block = client.block_number()
    block_tag = hex(block)
    minter_topic = _topic_of(deployment.minter_address)
    allowance = (
        _last_allowance(client, minter_topic, deployment.deployed_block, block)
        if scope is None
        else None
    )
    minted, minted_duplicates, minted_count = _fetch_events(
        client,
        _MINTED_TOPIC,
        deployment.deployed_block,
        block,
        minter_topic=minter_topic,
        allowance_set_at=allowance[1] if allowance else None,
        tick=tick,
        phase="minted events",
    )
    burned, burned_duplicates, burned_count = _fetch_events(
        client,
        _BURNED_TOPIC,
        deployment.deployed_block,
        block,
        minter_topic=minter_topic,
        allowance_set_at=None,
        tick=tick,
        phase="burned events",
    )

    # 3. Outbox vs events; what each address should hold.
    expected: defaultdict[str, int] = defaultdict(int)
    scoped_addresses: set[str] = set()
    confirmed = in_flight = not_yet = failed = 0
    allowance_spent = 0
    add = findings.add
    for sign, ops, events, kinds in (
        (1, ledger.mints, minted, _MINT_KINDS),
        (-1, ledger.burns, burned, _BURN_KINDS),
    ):
        missing, amount_mismatch, address_mismatch, _, _ = kinds
        for reference, (state, amount, address, in_scope) in ops.items():
            event = events.pop(reference, None)
            if in_scope:
                if address is not None:
                    scoped_addresses.add(address)
                elif event is not None:
                    scoped_addresses.add(event.address)
            if state == _CONFIRMED:
                confirmed += in_scope
                if address is None:
                    if in_scope:
                        add(DiscrepancyKind.confirmed_without_address, reference=reference)
                else:
                    expected[address] += sign * amount
                if event is None:
                    if in_scope:
                        add(missing, reference=reference, address=address, expected=amount)
                    continue
            elif state == _FAILED:
                if in_scope:
                    failed += 1
                    add(
                        DiscrepancyKind.operation_failed,
                        reference=reference,
                        address=address,
                        expected=amount,
                        actual=None if event is None else event.amount,
                        tx_hash=None if event is None else event.tx_hash,
                        detail=None if event is None else "the chain has its event",
                    )
                continue
            elif event is None:
                not_yet += in_scope
                continue
            else:
                # Mined, not yet marked confirmed: the worker is between send and receipt.
                in_flight += in_scope
                expected[event.address] += sign * event.amount
            if in_scope:
                if event.amount != amount:
                    add(
                        amount_mismatch,
                        reference=reference,
                        address=event.address,
                        expected=amount,
                        actual=event.amount,
                        tx_hash=event.tx_hash,
                    )
                if address is not None and event.address != address:
                    add(
                        address_mismatch,
                        reference=reference,
                        address=address,
                        expected=address,
                        actual=event.address,
                        tx_hash=event.tx_hash,
                    )
            if event.spends_allowance:
                allowance_spent += amount

    # Events left over: operations created after the snapshot, or unknown to SQL.
    late = _known_references(session, [*minted, *burned]) if minted or burned else {}
    unknown_addresses: set[str] = set()
    for sign, events, duplicates, op_kind, kinds in (
        (1, minted, minted_duplicates, ChainOperationKind.mint.value, _MINT_KINDS),
        (-1, burned, burned_duplicates, ChainOperationKind.burn.value, _BURN_KINDS),
    ):
        unknown, duplicate = kinds[3], kinds[4]
        for reference, event in events.items():
            known = late.get(reference)
            if known is not None and known[0] == op_kind:
                in_scope = scope is None or known[1] in scope_set
                in_flight += in_scope
                if in_scope:
                    scoped_addresses.add(event.address)
                expected[event.address] += sign * event.amount
                if event.spends_allowance:
                    allowance_spent += event.amount
                continue
            unknown_addresses.add(event.address)
            if scope is None or event.address in scoped_addresses:
                add(
                    unknown,
                    reference=reference,
                    address=event.address,
                    actual=event.amount,
                    tx_hash=event.tx_hash,
                )
        ops = ledger.mints if sign > 0 else ledger.burns
        for reference, event in duplicates:
            op = ops.get(reference)
            if (
                op.in_scope
                if op is not None
                else (scope is None or event.address in scoped_addresses)
            ):
                add(
                    duplicate,
                    reference=reference,
                    address=event.address,
                    actual=event.amount,
                    tx_hash=event.tx_hash,
                )

    # 4. Balances per address, total supply and the minter's allowance, at the same block.
    checked = scoped_addresses if scope is not None else set(expected) | unknown_addresses
    addresses = sorted(checked)
    balances = _eth_calls(
        client, token, [_BALANCE_OF + _topic_of(a)[2:] for a in addresses], block_tag, tick
    )
    for address, actual in zip(addresses, balances, strict=True):
        if expected.get(address, 0) != actual:
            add(
                DiscrepancyKind.balance_mismatch,
                address=address,
                expected=expected.get(address, 0),
                actual=actual,
            )
    if scope is None:
        total_supply, *rest = _eth_calls(
            client,
            token,
            [_TOTAL_SUPPLY]
            + ([_MINTER_ALLOWANCE + minter_topic[2:]] if allowance is not None else []),
            block_tag,
        )
        if sum(expected.values()) != total_supply:
            add(
                DiscrepancyKind.total_supply_mismatch,
                expected=sum(expected.values()),
                actual=total_supply,
            )
        if allowance is not None:
            configured, (configured_block, _) = allowance
            if configured - allowance_spent != rest[0]:
                add(
                    DiscrepancyKind.minter_allowance_mismatch,
                    address=deployment.minter_address.lower(),
                    expected=configured - allowance_spent,
                    actual=rest[0],
                    detail=f"{configured} go configured at block {configured_block}",
                )

    _enrich(session, findings.items)
    total = findings.total
    return ReconciliationReport(
        status="clean" if total == 0 else "discrepancies",
        checked_at=checked_at,
        duration_seconds=round(time.monotonic() - started, 3),
        chain_id=chain_id,
        token_address=token,
        block_number=block,
        scope="all" if scope is None else "municipalities",
        municipality_ids=scope,
        supply_checked=scope is None,
        counts=ReconciliationCounts(
            operations=ledger.operations,
            confirmed=confirmed,
            in_flight=in_flight,
            not_yet_on_chain=not_yet,
            failed=failed,
            issuances=ledger.issuances,
            minted_events=minted_count,
            burned_events=burned_count,
            addresses=len(addresses),
            users=ledger.users,
            discrepancies=total,
            by_kind=dict(sorted(findings.by_kind.items())),
        ),
        discrepancies=findings.items,
        truncated=len(findings.items) < total,
    )


def _enrich(session: Session, items: list[Discrepancy]) -> None:
    """Name the issuance, person and town of each listed discrepancy (a few lookups for the
    listed ones only, so the fast path never parses a UUID), and checksum addresses."""
    op = ChainOperation
    references = [d.reference for d in items if d.reference and d.issuance_id is None]
    by_reference: dict[str, tuple[uuid.UUID, uuid.UUID, uuid.UUID]] = {}
    for chunk in _chunks(references):
        for reference, issuance_id, user_id, town in session.execute(
            select(op.reference, op.issuance_id, op.user_id, op.municipality_id).where(
                op.reference.in_(chunk)
            )
        ):
            by_reference[reference] = (issuance_id, user_id, town)
    addresses = sorted({d.address for d in items if d.address and d.user_id is None})
    owners: dict[str, uuid.UUID] = {}
    for chunk in _chunks(addresses):
        lowered = func.lower(op.recipient_address)
        for address, user_id in session.execute(
            select(lowered, op.user_id).where(lowered.in_(chunk)).distinct()
        ):
            owners.setdefault(address, user_id)
        wallet = func.lower(User.wallet_address)
        for address, user_id in session.execute(select(wallet, User.id).where(wallet.in_(chunk))):
            owners.setdefault(address, user_id)
    for item in items:
        if item.reference in by_reference and item.issuance_id is None:
            item.issuance_id, user_id, town = by_reference[item.reference]
            item.user_id = item.user_id or user_id
            item.municipality_id = item.municipality_id or town
        if item.address:
            item.user_id = item.user_id or owners.get(item.address)
            item.address = to_checksum_address(item.address)
        if item.kind in _ADDRESS_VALUED:
            item.expected = to_checksum_address(str(item.expected))
            item.actual = to_checksum_address(str(item.actual))
        if item.user_id is not None and item.account is None:
            item.account = f"holder:{item.user_id}"


# ---------------------------------------------------------------- ``kokudaka audit reconcile``


def run_audit(settings: Settings, municipality_code: str | None, out: TextIO) -> int:
    """The command: progress and a summary on ``out``; exit 0 clean, 1 discrepancies,
    2 when the chain or the recorded deployment cannot be reached."""
    rpc_url = settings.chain_rpc_url or f"http://127.0.0.1:{settings.anvil_port}"
    client = ChainClient(rpc_url, request_timeout=60.0)
    try:
        chain_id = client.chain_id()
    except ChainUnavailable:
        print(f"chain unreachable at {rpc_url}", file=out)
        return 2
    engine = _audit_engine(settings.sqlalchemy_url)
    try:
        with Session(engine) as session:
            deployment = session.scalar(
                select(ChainDeployment).where(ChainDeployment.chain_id == chain_id)
            )
            if deployment is None:
                print(f"no KOKU deployment recorded for chain {chain_id}", file=out)
                return 2
            scope: list[uuid.UUID] | None = None
            if municipality_code is not None:
                town = session.scalar(
                    select(Municipality.id).where(Municipality.code == municipality_code)
                )
                if town is None:
                    print(f"unknown municipality: {municipality_code}", file=out)
                    return 2
                scope = [town]
            client.use_koku(deployment.token_address)
            print(
                f"reconciling {municipality_code or 'every municipality'} against "
                f"{deployment.token_address} on chain {chain_id} ({rpc_url})",
                file=out,
                flush=True,
            )

            def progress(phase: str, done: int) -> None:
                print(f"  {phase}: {done:,}", file=out, flush=True)

            try:
                report = reconcile(session, client, deployment, scope, progress, limit=50)
            except ChainError as error:
                print(f"chain error: {error}", file=out)
                return 2
    finally:
        engine.dispose()
    _print_summary(report, out)
    return 0 if report.status == "clean" else 1


def _audit_engine(url: str) -> Engine:
    if make_url(url).get_backend_name() == "sqlite":
        # Plain reads, without the service's BEGIN IMMEDIATE: an audit of a large ledger
        # must not hold SQLite's write lock (and stall every writer) while it reads the chain.
        return create_engine(url, connect_args={"timeout": 30})
    return create_db_engine(url, pool_size=2)


def _print_summary(report: ReconciliationReport, out: TextIO) -> None:
    c = report.counts
    print(
        f"block {report.block_number}: {c.operations:,} operations ({c.confirmed:,} confirmed, "
        f"{c.in_flight:,} in flight, {c.not_yet_on_chain:,} not yet on chain, {c.failed:,} "
        f"failed), {c.issuances:,} issuances, {c.minted_events:,} minted and "
        f"{c.burned_events:,} burned events, {c.addresses:,} addresses, {c.users:,} people; "
        f"{report.duration_seconds:.2f} s",
        file=out,
    )
    if report.status == "clean":
        print("clean: the ledger and the chain agree", file=out)
        return
    print(f"{c.discrepancies:,} discrepancies:", file=out)
    for kind, count in c.by_kind.items():
        print(f"  {kind}: {count:,}", file=out)
    for item in report.discrepancies[:20]:
        fields = item.model_dump(exclude_none=True, mode="json")
        kind = fields.pop("kind")
        print(f"- {kind} " + " ".join(f"{k}={v}" for k, v in fields.items()), file=out)
    if c.discrepancies > 20:
        print(f"  ... and {c.discrepancies - 20:,} more", file=out)
