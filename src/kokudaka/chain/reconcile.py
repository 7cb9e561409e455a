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

import gc
import time
import uuid
from collections import Counter, defaultdict, deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from datetime import datetime
from enum import StrEnum
from typing import Any, Final, Literal, TextIO

from eth_utils.address import to_checksum_address
from eth_utils.crypto import keccak
from pydantic import BaseModel, Field
from sqlalchemy import (
    BigInteger,
    String,
    and_,
    case,
    cast,
    func,
    literal_column,
    or_,
    select,
    true,
    type_coerce,
)
from sqlalchemy.engine import Engine, Result, create_engine, make_url
from sqlalchemy.orm import Session
from web3.providers.base import JSONBaseProvider
from web3.types import RPCEndpoint

from kokudaka.chain.client import ChainClient
from kokudaka.chain.errors import ChainError, ChainUnavailable, map_chain_error
from kokudaka.core.db import create_db_engine
from kokudaka.core.schemas import Amount
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
    "KokuTotals",
    "MunicipalityTotals",
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
_LOG_PIECES: Final = 8
_LOGS_AHEAD: Final = 2
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
_BURN: Final = ChainOperationKind.burn.value


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
    municipality_name: str | None = None
    user_id: uuid.UUID | None = None
    user_name: str | None = Field(default=None, description="The person's display name")
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


class KokuTotals(BaseModel):
    """KOKU in circulation as the ledger and the chain each count it."""

    ledger: Amount = Field(
        description="Issued minus reversed, from the ledger's postings on issuance accounts"
    )
    on_chain: Amount = Field(
        description="Minted minus burned on chain, by the Minted and Burned events of the "
        "scope's operations"
    )
    unsettled: Amount = Field(
        description="Operations with no event yet (pending, submitted or failed), mints "
        "minus burns: what the ledger holds that the chain does not yet"
    )
    agrees: bool = Field(description="ledger = on_chain + unsettled")

    @classmethod
    def of(cls, ledger: int, on_chain: int, unsettled: int) -> KokuTotals:
        return cls(
            ledger=Amount.of(ledger),
            on_chain=Amount.of(on_chain),
            unsettled=Amount.of(unsettled),
            agrees=ledger == on_chain + unsettled,
        )


class MunicipalityTotals(KokuTotals):
    municipality_id: uuid.UUID
    municipality_name: str


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
    totals: KokuTotals = Field(description="KOKU of every town in scope, together")
    municipalities: list[MunicipalityTotals] = Field(description="KOKU per town in scope, by name")
    discrepancies: list[Discrepancy]
    truncated: bool = Field(description="More discrepancies than listed; see counts.by_kind")


# Plain tuples, not NamedTuples: a million of each are built, and a tuple display is ~5x faster.
_Op = tuple[str, int, str | None, bool, str]
"""One outbox row as the comparison needs it: (state, amount in go, address or None while
unsent, in scope, town id as text). Addresses are lower-case hex; no UUIDs (parsing them is
the slow part): a town's id is parsed once, when the totals are named."""
_Event = tuple[str, int, str, bool]
"""One event: (address minted to or burned from, amount, tx hash, spends the allowance: a
mint by the deployment's minter after its last allowance configuration)."""


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
    """Reports ``(phase, done)`` to a progress callback each time ``done`` passes another
    multiple of ``every``, and at the end of each phase."""

    def __init__(self, progress: Progress | None, every: int) -> None:
        self.progress = progress
        self.every = max(every, 1)
        self._next: dict[str, int] = {}

    def __call__(self, phase: str, done: int) -> None:
        if self.progress is not None and done >= self._next.get(phase, self.every):
            self._next[phase] = (done // self.every + 1) * self.every
            self.progress(phase, done)

    def always(self, phase: str, done: int) -> None:
        if self.progress is not None:
            self.progress(phase, done)


# ---------------------------------------------------------------- SQL: the ledger snapshot


class _Ledger:
    def __init__(self) -> None:
        self.mints: dict[str, _Op] = {}
        self.burns: dict[str, _Op] = {}
        self.addresses: set[str] = set()
        """Addresses of the operations whose balances are checked (all, or the scope's)."""
        self.operations = 0
        self.issuances = 0
        self.users = 0


def _operations_statement(scope: Sequence[uuid.UUID] | None) -> Any:
    """Every chain operation (all towns: balances and unknown events need them)."""
    op = ChainOperation.__table__.c
    return select(
        type_coerce(op.kind, String),
        type_coerce(op.state, String),
        op.reference,
        op.amount_go,
        op.recipient_address,
        _scoped(op.municipality_id, scope),
        cast(op.municipality_id, String),
    ).execution_options(yield_per=_YIELD_PER)


def _collect_operations(
    result: Result[str, str, str, int, str | None, bool, str], tick: _Ticker
) -> _Ledger:
    ledger = _Ledger()
    mints, burns, addresses = ledger.mints, ledger.burns, ledger.addresses
    # One string per town, shared by its operations, rather than one per row.
    towns: dict[str, str] = {}
    done = scoped_count = 0
    for partition in result.partitions():
        for kind, state, reference, amount, address, scoped, town in partition:
            scoped = bool(scoped)
            town = towns.setdefault(town, town)
            if address:
                address = address.lower()
                if scoped:
                    addresses.add(address)
            else:
                address = None
            (mints if kind == _MINT else burns)[reference] = (state, amount, address, scoped, town)
            scoped_count += scoped
        done += len(partition)
        tick("operations", done)
    ledger.operations = scoped_count
    tick.always("operations", done)
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
    """Raw logs of ``topic``, block range by block range, the next range always in flight.

    The client's chunked ``eth_getLogs`` (it halves a range a node refuses) is used as is;
    decoding happens here, by hand and without EIP-55 checksums, which is what makes a
    million events affordable (``minted_events`` checksums two addresses per event, ~80 µs
    each). While one range is decoded, the node already serializes the next: a dense dev
    chain's history is cut in at least ``_LOG_PIECES`` ranges so that this overlap exists.
    """
    span = to_block - from_block + 1
    if span <= 0:
        return
    size = min(LOG_CHUNK_BLOCKS, -(-span // _LOG_PIECES))
    ranges = [
        (start, min(start + size - 1, to_block)) for start in range(from_block, to_block + 1, size)
    ]

    def fetch(bounds: tuple[int, int]) -> list[dict[str, Any]]:
        return list(client._logs(topic, bounds[0], bounds[1], size))

    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="reconcile-logs") as pool:
        pending = deque(pool.submit(fetch, bounds) for bounds in ranges[:_LOGS_AHEAD])
        following = iter(ranges[_LOGS_AHEAD:])
        while pending:
            logs = pending.popleft().result()
            bounds = next(following, None)
            if bounds is not None:
                pending.append(pool.submit(fetch, bounds))
            yield from logs


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
        event = ("0x" + topics[2][-40:], int(log["data"], 16), log["transactionHash"], spends)
        reference = topics[1]
        if reference in events:
            duplicates.append((reference, event))
        else:
            events[reference] = event
        count += 1
        if not count & 0x3FF:
            tick(phase, count)
    tick.always(phase, count)
    return events, duplicates, count


class _Chain:
    """What the chain holds at one block, read while the ledger is being read."""

    minted: dict[str, _Event]
    minted_duplicates: list[tuple[str, _Event]]
    minted_count: int
    burned: dict[str, _Event]
    burned_duplicates: list[tuple[str, _Event]]
    burned_count: int
    allowance: tuple[int, tuple[int, int]] | None


def _read_chain(
    client: ChainClient, deployment: ChainDeployment, block: int, everything: bool, tick: _Ticker
) -> _Chain:
    chain = _Chain()
    minter_topic = _topic_of(deployment.minter_address)
    start = deployment.deployed_block
    chain.allowance = _last_allowance(client, minter_topic, start, block) if everything else None
    chain.minted, chain.minted_duplicates, chain.minted_count = _fetch_events(
        client,
        _MINTED_TOPIC,
        start,
        block,
        minter_topic=minter_topic,
        allowance_set_at=chain.allowance[1] if chain.allowance else None,
        tick=tick,
        phase="minted events",
    )
    chain.burned, chain.burned_duplicates, chain.burned_count = _fetch_events(
        client,
        _BURNED_TOPIC,
        start,
        block,
        minter_topic=minter_topic,
        allowance_set_at=None,
        tick=tick,
        phase="burned events",
    )
    return chain


def _balances(
    client: ChainClient, token: str, addresses: Iterable[str], block: int, tick: _Ticker
) -> dict[str, int]:
    """``balanceOf`` each address at ``block``, in JSON-RPC batches."""
    ordered = sorted(addresses)
    calldata = [_BALANCE_OF + _topic_of(address)[2:] for address in ordered]
    values = _eth_calls(client, to_checksum_address(token), calldata, hex(block), tick)
    return dict(zip(ordered, values, strict=True))


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
            tick("balances", len(values))
    return values


@contextmanager
def _gc_paused() -> Iterator[None]:
    # Millions of long-lived tuples make every full collection walk them all, again and
    # again as they are built; nothing built here is cyclic, so reference counting suffices.
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


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
    token = to_checksum_address(deployment.token_address)
    if client.koku_address != token:
        raise ValueError(f"the client uses {client.koku_address}, the deployment is {token}")
    everything = scope is None
    tick = _Ticker(progress, progress_every)
    findings = _Findings(limit)
    with _gc_paused():
        # The outbox statement runs first, so its snapshot predates the block read next (see
        # the module docstring). Then three things overlap: the events are read in one
        # thread while the outbox rows stream here; the balances of the addresses in the
        # outbox are read in another while the ledger checks run here.
        result = session.execute(_operations_statement(scope))
        with ThreadPoolExecutor(max_workers=2, thread_name_prefix="reconcile") as pool:
            try:
                chain_id = client.chain_id()
                block = client.block_number()
                reading = pool.submit(_read_chain, client, deployment, block, everything, tick)
                ledger = _collect_operations(result, tick)
            finally:
                result.close()  # a server-side cursor on PostgreSQL
            balancing = pool.submit(_balances, client, token, ledger.addresses, block, tick)
            _check_ledger_vs_outbox(session, scope, ledger, findings)
            chain = reading.result()
            balances = balancing.result()
        addresses = _compare(session, scope, ledger, chain, findings)
        missing = addresses - balances.keys()
        if missing:  # only addresses known from events alone: unknown or late operations
            balances |= _balances(client, token, missing, block, tick)
        expected = addresses.expected
        for address in sorted(addresses):
            actual = balances[address]
            if expected.get(address, 0) != actual:
                findings.add(
                    DiscrepancyKind.balance_mismatch,
                    address=address,
                    expected=expected.get(address, 0),
                    actual=actual,
                )
        if everything:
            _check_supply(client, deployment, block, chain, addresses, findings)
    _enrich(session, findings.items)
    town_totals = _municipality_totals(session, scope, addresses)
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
            confirmed=addresses.confirmed,
            in_flight=addresses.in_flight,
            not_yet_on_chain=addresses.not_yet,
            failed=addresses.failed,
            issuances=ledger.issuances,
            minted_events=chain.minted_count,
            burned_events=chain.burned_count,
            addresses=len(addresses),
            users=ledger.users,
            discrepancies=total,
            by_kind=dict(sorted(findings.by_kind.items())),
        ),
        totals=KokuTotals.of(
            sum(t.ledger.go for t in town_totals),
            sum(t.on_chain.go for t in town_totals),
            sum(t.unsettled.go for t in town_totals),
        ),
        municipalities=town_totals,
        discrepancies=findings.items,
        truncated=len(findings.items) < total,
    )


class _Addresses(set[str]):
    """The addresses to check, with what each should hold and how operations stood."""

    def __init__(self) -> None:
        super().__init__()
        self.expected: defaultdict[str, int] = defaultdict(int)
        self.confirmed = self.in_flight = self.not_yet = self.failed = 0
        self.allowance_spent = 0
        self.on_chain: defaultdict[str, int] = defaultdict(int)
        """Per town in scope (id as text): its operations' events, mints minus burns."""
        self.unsettled: defaultdict[str, int] = defaultdict(int)
        """Per town in scope: its operations with no event yet, mints minus burns."""


def _compare(
    session: Session,
    scope: Sequence[uuid.UUID] | None,
    ledger: _Ledger,
    chain: _Chain,
    findings: _Findings,
) -> _Addresses:
    """Outbox vs events, by reference; returns the addresses to check and their expected
    balances (confirmed operations, plus those mined but not yet marked confirmed)."""
    result = _Addresses()
    expected = result.expected
    scoped_addresses: set[str] = set()
    confirmed = in_flight = not_yet = failed = allowance_spent = 0
    on_chain, unsettled = result.on_chain, result.unsettled
    add = findings.add
    for sign, ops, events, kinds in (
        (1, ledger.mints, chain.minted, _MINT_KINDS),
        (-1, ledger.burns, chain.burned, _BURN_KINDS),
    ):
        missing, amount_mismatch, address_mismatch, _, _ = kinds
        for reference, (state, amount, address, in_scope, town) in ops.items():
            event = events.pop(reference, None)
            if in_scope:
                if event is None:
                    unsettled[town] += sign * amount
                else:
                    on_chain[town] += sign * event[1]
                if address is not None:
                    scoped_addresses.add(address)
                elif event is not None:
                    scoped_addresses.add(event[0])
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
                        actual=None if event is None else event[1],
                        tx_hash=None if event is None else event[2],
                        detail=None if event is None else "the chain has its event",
                    )
                continue
            elif event is None:
                not_yet += in_scope
                continue
            else:
                # Mined, not yet marked confirmed: the worker is between send and receipt.
                in_flight += in_scope
                expected[event[0]] += sign * event[1]
            event_address, event_amount, tx_hash, spends = event
            if in_scope:
                if event_amount != amount:
                    add(
                        amount_mismatch,
                        reference=reference,
                        address=event_address,
                        expected=amount,
                        actual=event_amount,
                        tx_hash=tx_hash,
                    )
                if address is not None and event_address != address:
                    add(
                        address_mismatch,
                        reference=reference,
                        address=address,
                        expected=address,
                        actual=event_address,
                        tx_hash=tx_hash,
                    )
            if spends:
                allowance_spent += amount

    # Events left over: operations created after the snapshot, or unknown to SQL.
    leftovers = [*chain.minted, *chain.burned]
    late = _known_references(session, leftovers) if leftovers else {}
    scope_set = set(scope or ())
    unknown_addresses: set[str] = set()
    for sign, events, duplicates, op_kind, ops, kinds in (
        (1, chain.minted, chain.minted_duplicates, _MINT, ledger.mints, _MINT_KINDS),
        (-1, chain.burned, chain.burned_duplicates, _BURN, ledger.burns, _BURN_KINDS),
    ):
        unknown, duplicate = kinds[3], kinds[4]
        for reference, (event_address, event_amount, tx_hash, spends) in events.items():
            known = late.get(reference)
            if known is not None and known[0] == op_kind:
                in_scope = scope is None or known[1] in scope_set
                in_flight += in_scope
                if in_scope:
                    scoped_addresses.add(event_address)
                    on_chain[str(known[1])] += sign * event_amount
                expected[event_address] += sign * event_amount
                if spends:
                    allowance_spent += event_amount
                continue
            unknown_addresses.add(event_address)
            if scope is None or event_address in scoped_addresses:
                add(
                    unknown,
                    reference=reference,
                    address=event_address,
                    actual=event_amount,
                    tx_hash=tx_hash,
                )
        for reference, (event_address, event_amount, tx_hash, _) in duplicates:
            op = ops.get(reference)
            if op[3] if op is not None else (scope is None or event_address in scoped_addresses):
                add(
                    duplicate,
                    reference=reference,
                    address=event_address,
                    actual=event_amount,
                    tx_hash=tx_hash,
                )

    result.update(scoped_addresses if scope is not None else set(expected) | unknown_addresses)
    result.confirmed, result.in_flight, result.not_yet, result.failed = (
        confirmed,
        in_flight,
        not_yet,
        failed,
    )
    result.allowance_spent = allowance_spent
    return result


def _town_id(text: str) -> uuid.UUID:
    return uuid.UUID(text)  # PostgreSQL gives the dashed form, SQLite 32 hex digits


def _municipality_totals(
    session: Session, scope: Sequence[uuid.UUID] | None, addresses: _Addresses
) -> list[MunicipalityTotals]:
    """Each town's KOKU in circulation: by its issuance account's postings (an issuance
    account goes negative by exactly what the town has put out), and by the chain."""
    a, p, m = Account, Posting, Municipality
    ledger: dict[uuid.UUID, int] = {}
    for town, total in session.execute(
        select(a.municipality_id, func.sum(p.amount_go))
        .join(a, a.id == p.account_id)
        .where(a.kind == AccountKind.issuance, _scoped(a.municipality_id, scope))
        .group_by(a.municipality_id)
    ):
        if town is not None:  # every issuance account names its town
            ledger[town] = -int(total)
    on_chain: defaultdict[uuid.UUID, int] = defaultdict(int)
    unsettled: defaultdict[uuid.UUID, int] = defaultdict(int)
    for text, go in addresses.on_chain.items():
        on_chain[_town_id(text)] += go
    for text, go in addresses.unsettled.items():
        unsettled[_town_id(text)] += go
    towns = ledger.keys() | on_chain.keys() | unsettled.keys()
    if not towns:
        return []
    names: dict[uuid.UUID, str] = {
        town: name
        for town, name in session.execute(select(m.id, m.name).where(m.id.in_(list(towns))))
    }
    return [
        MunicipalityTotals(
            municipality_id=town,
            municipality_name=names.get(town, ""),
            **dict(KokuTotals.of(ledger.get(town, 0), on_chain[town], unsettled[town])),
        )
        for town in sorted(towns, key=lambda t: (names.get(t, ""), t))
    ]


def _check_supply(
    client: ChainClient,
    deployment: ChainDeployment,
    block: int,
    chain: _Chain,
    addresses: _Addresses,
    findings: _Findings,
) -> None:
    """totalSupply vs the sum of what every address should hold; the minter's allowance vs
    its last configured allowance minus what the ledger minted since."""
    minter = deployment.minter_address.lower()
    calls = [_TOTAL_SUPPLY]
    if chain.allowance is not None:
        calls.append(_MINTER_ALLOWANCE + _topic_of(minter)[2:])
    total_supply, *rest = _eth_calls(
        client, to_checksum_address(deployment.token_address), calls, hex(block)
    )
    expected_supply = sum(addresses.expected.values())
    if expected_supply != total_supply:
        findings.add(
            DiscrepancyKind.total_supply_mismatch, expected=expected_supply, actual=total_supply
        )
    if chain.allowance is not None:
        configured, (configured_block, _) = chain.allowance
        if configured - addresses.allowance_spent != rest[0]:
            findings.add(
                DiscrepancyKind.minter_allowance_mismatch,
                address=minter,
                expected=configured - addresses.allowance_spent,
                actual=rest[0],
                detail=f"{configured} go configured at block {configured_block}",
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
    _name(session, items)


def _name(session: Session, items: list[Discrepancy]) -> None:
    """The town's and the person's names beside their ids, for the listed ones."""
    towns = sorted({d.municipality_id for d in items if d.municipality_id is not None})
    people = sorted({d.user_id for d in items if d.user_id is not None})
    town_names: dict[uuid.UUID, str] = {}
    for chunk in _chunks(towns):
        rows = session.execute(
            select(Municipality.id, Municipality.name).where(Municipality.id.in_(chunk))
        )
        town_names.update({town: name for town, name in rows})
    user_names: dict[uuid.UUID, str] = {}
    for chunk in _chunks(people):
        rows = session.execute(select(User.id, User.display_name).where(User.id.in_(chunk)))
        user_names.update({user: name for user, name in rows})
    for item in items:
        if item.municipality_id is not None:
            item.municipality_name = town_names.get(item.municipality_id)
        if item.user_id is not None:
            item.user_name = user_names.get(item.user_id)


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
