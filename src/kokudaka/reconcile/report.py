"""What a reconciliation reports (the API and CLI shape), and the small shapes its phases share:
findings counted by kind, progress ticks, and the plain tuples a million operations are held in."""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from datetime import datetime
from enum import StrEnum
from typing import Any, Final, Literal

from pydantic import BaseModel, Field

from kokudaka.core.schemas import Amount

__all__ = [
    "DEFAULT_LIMIT",
    "Discrepancy",
    "DiscrepancyKind",
    "KokuTotals",
    "MunicipalityTotals",
    "Progress",
    "ReconciliationCounts",
    "ReconciliationReport",
    "TownSeason",
    "WorkBills",
]

Progress = Callable[[str, int], None]
"""Called as ``progress(phase, items_done)`` every ``progress_every`` items of a phase
(operations, minted events, burned events) and after each batch of balances."""

PROGRESS_EVERY: Final = 50_000
#: Discrepancies listed in a report by default; the counts always cover all of them.
DEFAULT_LIMIT: Final = 1_000
IN_BATCH: Final = 500


class DiscrepancyKind(StrEnum):
    """What disagrees. Amounts in ``expected``/``actual`` are integer go."""

    # outbox vs events
    mint_missing_on_chain = "mint_missing_on_chain"
    """SQL says confirmed, the chain has no ``Minted`` event for the reference."""
    mint_amount_mismatch = "mint_amount_mismatch"
    mint_recipient_mismatch = "mint_recipient_mismatch"
    mint_town_mismatch = "mint_town_mismatch"
    """The reference was minted in another town's namespace than the operation's town."""
    confirmed_without_address = "confirmed_without_address"
    """A confirmed operation with no recipient (or burned-from) address recorded."""
    unknown_mint = "unknown_mint"
    """A ``Minted`` event whose reference no operation in SQL has."""
    duplicate_mint_event = "duplicate_mint_event"
    burn_missing_on_chain = "burn_missing_on_chain"
    burn_amount_mismatch = "burn_amount_mismatch"
    burn_address_mismatch = "burn_address_mismatch"
    burn_town_mismatch = "burn_town_mismatch"
    unknown_burn = "unknown_burn"
    duplicate_burn_event = "duplicate_burn_event"
    operation_failed = "operation_failed"
    """An operation the chain refused for good: the ledger holds KOKU the chain never will."""
    # chain state
    balance_mismatch = "balance_mismatch"
    total_supply_mismatch = "total_supply_mismatch"
    season_minted_mismatch = "season_minted_mismatch"
    """What the contract counts as minted by a town in a season differs from the town's
    ``Minted`` events of that season's operations."""
    # ledger vs outbox
    issuance_without_mint = "issuance_without_mint"
    issuance_mint_mismatch = "issuance_mint_mismatch"
    duplicate_mint_operation = "duplicate_mint_operation"
    reversal_without_burn = "reversal_without_burn"
    reversal_burn_mismatch = "reversal_burn_mismatch"
    burn_without_reversal = "burn_without_reversal"
    """A KOKU burn operation that is neither an issuance's reversal nor its conversion."""
    conversion_without_burn = "conversion_without_burn"
    """A board issuance the harvest converted, with no KOKU burn operation of its
    conversion entry."""
    conversion_burn_mismatch = "conversion_burn_mismatch"
    duplicate_burn_operation = "duplicate_burn_operation"
    """More than one KOKU burn operation draws on one issuance."""
    ledger_outbox_mismatch = "ledger_outbox_mismatch"
    """A holder account's postings differ from the net of the person's operations."""
    # the ledger itself
    entry_unbalanced = "entry_unbalanced"
    """A journal entry's postings do not sum to zero in one asset (KOKU, or one work's
    bills); ``detail`` names the asset."""
    account_balance_mismatch = "account_balance_mismatch"
    """An account's running balance differs from the sum of its postings."""
    # rice bills (米手形): ledger vs outbox
    bill_without_mint = "bill_without_mint"
    """A bill of more than 0 go with no bill mint operation."""
    bill_mint_operation_mismatch = "bill_mint_operation_mismatch"
    """A bill's mint operation differs from it (amount, holder, town or journal entry)."""
    duplicate_bill_mint_operation = "duplicate_bill_mint_operation"
    bill_ledger_outbox_mismatch = "bill_ledger_outbox_mismatch"
    """A person's bill account of a work differs from the net of their bill operations."""
    # rice bills: outbox vs the bills contract
    bill_mint_missing = "bill_mint_missing"
    """SQL says confirmed, the bills contract has no ``BillMinted`` event for the reference."""
    bill_burn_missing = "bill_burn_missing"
    bill_amount_mismatch = "bill_amount_mismatch"
    bill_recipient_mismatch = "bill_recipient_mismatch"
    """The event's holder address is not the operation's."""
    bill_work_mismatch = "bill_work_mismatch"
    """The event's token id is not the work of the operation's bill."""
    bill_town_mismatch = "bill_town_mismatch"
    """The reference was minted (or burned) in another town's namespace."""
    unknown_bill_mint = "unknown_bill_mint"
    """A ``BillMinted`` event whose reference no bill operation in SQL has."""
    unknown_bill_burn = "unknown_bill_burn"
    duplicate_bill_event = "duplicate_bill_event"
    bill_skip_mismatch = "bill_skip_mismatch"
    """A ``BillMintSkipped``/``BillBurnSkipped`` event with no event of its reference in its
    town, or whose holder, work or amount differ from it: a resend that was not one."""
    bill_balance_mismatch = "bill_balance_mismatch"
    """``balanceOf(holder, work)`` differs from the address's settled bills of the work."""
    bill_supply_mismatch = "bill_supply_mismatch"
    """``totalSupply(work)`` differs from the settled bills of the work."""
    bill_work_unregistered = "bill_work_unregistered"
    """The work has settled bills but is registered to no town on the bills contract."""
    bill_work_town_mismatch = "bill_work_town_mismatch"
    bill_work_season_mismatch = "bill_work_season_mismatch"
    bill_work_cap_mismatch = "bill_work_cap_mismatch"
    """The work's cap on chain is not its bill total in SQL."""
    bill_work_minted_mismatch = "bill_work_minted_mismatch"
    """What the contract counts as minted of the work differs from its ``BillMinted`` events."""


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


class TownSeason(BaseModel):
    """One town's season: its cap and issuance as SQL has them, beside the chain's cap, what
    the town's minter minted and what it may still mint."""

    municipality_id: uuid.UUID
    municipality_name: str
    season: int
    cap: Amount = Field(description="The season's yearly cap in the town's policy (SQL)")
    issued: Amount = Field(description="Issued in SQL this season (gross, like the chain's)")
    reserved: Amount = Field(description="Held in SQL for investments awaiting payment")
    cap_left: Amount = Field(description="cap - issued - reserved: what SQL may still issue")
    chain_cap: Amount = Field(description="The town's cap for the season on chain")
    chain_minted: Amount = Field(description="What the town's minters minted in the season")
    allowance_left: Amount = Field(description="chain_cap - chain_minted: what may still mint")
    unsettled: Amount = Field(
        description="The season's mints SQL has that the chain has no event for yet"
    )
    cap_on_chain: bool = Field(
        description="The chain's cap equals SQL's; false until the admin signs a changed cap "
        "(`kokudaka chain allowances`), meanwhile the town's mints past the old cap wait"
    )


class WorkBills(BaseModel):
    """One work's rice bills (米手形) as SQL and the bills contract each count them."""

    work_id: uuid.UUID
    work_title: str
    municipality_id: uuid.UUID
    municipality_name: str
    season: int
    bills: int = Field(description="Bills issued by the harvest conversion (one per supporter)")
    issued: Amount = Field(description="The go of the work's bills in SQL: its bill total")
    outstanding: Amount = Field(
        description="What the holders' bill accounts of the work hold in SQL (issued minus "
        "redeemed or expired)"
    )
    on_chain_minted: Amount = Field(
        description="What the bills contract counts as minted of the work (`workOf`)"
    )
    on_chain_outstanding: Amount = Field(description="`totalSupply` of the work's token id")
    chain_cap: Amount = Field(
        description="The work's cap on chain (`workOf`), registered with its bill total"
    )
    registered: bool = Field(description="Registered on chain to the work's town and season")
    unsettled: Amount = Field(
        description="Bill operations with no event yet (pending, submitted or failed), mints "
        "minus burns"
    )
    mismatches: int = Field(description="Discrepancies found for this work")
    agrees: bool = Field(description="outstanding = on_chain_outstanding + unsettled")


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
        description="totalSupply is only meaningful when every municipality is in scope"
    )
    counts: ReconciliationCounts
    totals: KokuTotals = Field(description="KOKU of every town in scope, together")
    municipalities: list[MunicipalityTotals] = Field(description="KOKU per town in scope, by name")
    seasons: list[TownSeason] = Field(
        description="Per town in scope and season: SQL's cap and issuance beside the chain's "
        "cap, minted amount and allowance left"
    )
    bills_address: str | None = Field(
        default=None, description="The rice bills contract; null until it is deployed"
    )
    bills: list[WorkBills] = Field(
        default_factory=list,
        description="Per work in scope with bills, by town and title: SQL's bills beside the "
        "bills contract's",
    )
    discrepancies: list[Discrepancy]
    truncated: bool = Field(description="More discrepancies than listed; see counts.by_kind")


# Plain tuples, not NamedTuples: a million of each are built, and a tuple display is ~5x faster.
Op = tuple[str, int, str | None, bool, str, int]
"""One outbox row as the comparison needs it: (state, amount in go, address or None while
unsent, in scope, town id as text, season). Addresses are lower-case hex; no UUIDs (parsing
them is the slow part): a town's id is parsed once, when the totals are named."""
Event = tuple[str, int, str, str]
"""One event: (address minted to or burned from, amount, tx hash, the town's topic: the
``bytes32 town`` whose namespace the reference is in, as lower-case ``0x`` hex)."""


class Findings:
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


def chunks(values: Sequence[Any], size: int = IN_BATCH) -> Iterator[Sequence[Any]]:
    for start in range(0, len(values), size):
        yield values[start : start + size]


class Ticker:
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
