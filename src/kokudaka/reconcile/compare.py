"""Comparing the outbox with the chain for a reconciliation: operations vs events by reference
(and town), the expected balance of each address, totalSupply, per-town totals, each town's
season caps and minted amounts, and the names and ids that make a discrepancy readable."""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Sequence
from typing import Final

from eth_utils.address import to_checksum_address
from sqlalchemy import (
    func,
    select,
)
from sqlalchemy.orm import Session

from kokudaka.chain.client import ChainClient
from kokudaka.chain.interface import TOTAL_SUPPLY_SELECTOR
from kokudaka.core.schemas import Amount
from kokudaka.models import (
    Account,
    AccountKind,
    ChainDeployment,
    ChainOperation,
    Municipality,
    MunicipalityPolicy,
    Posting,
    User,
)
from kokudaka.reconcile.ledger import (
    BURN,
    CONFIRMED,
    FAILED,
    MINT,
    Ledger,
    known_references,
    scope_filter,
)
from kokudaka.reconcile.onchain import Chain, eth_calls, town_seasons_at, town_topic
from kokudaka.reconcile.report import (
    Discrepancy,
    DiscrepancyKind,
    Event,
    Findings,
    KokuTotals,
    MunicipalityTotals,
    TownSeason,
    chunks,
)

_MINT_KINDS: Final = (
    DiscrepancyKind.mint_missing_on_chain,
    DiscrepancyKind.mint_amount_mismatch,
    DiscrepancyKind.mint_recipient_mismatch,
    DiscrepancyKind.unknown_mint,
    DiscrepancyKind.duplicate_mint_event,
    DiscrepancyKind.mint_town_mismatch,
)
_BURN_KINDS: Final = (
    DiscrepancyKind.burn_missing_on_chain,
    DiscrepancyKind.burn_amount_mismatch,
    DiscrepancyKind.burn_address_mismatch,
    DiscrepancyKind.unknown_burn,
    DiscrepancyKind.duplicate_burn_event,
    DiscrepancyKind.burn_town_mismatch,
)
_ADDRESS_VALUED: Final = frozenset(
    {DiscrepancyKind.mint_recipient_mismatch, DiscrepancyKind.burn_address_mismatch}
)


class Addresses(set[str]):
    """The addresses to check, with what each should hold and how operations stood."""

    def __init__(self) -> None:
        super().__init__()
        self.expected: defaultdict[str, int] = defaultdict(int)
        self.confirmed = self.in_flight = self.not_yet = self.failed = 0
        self.season_minted: defaultdict[tuple[str, int], int] = defaultdict(int)
        """Per (town topic, season), every town: the go of its ``Minted`` events."""
        self.season_unsettled: defaultdict[tuple[str, int], int] = defaultdict(int)
        """Per (town topic, season) in scope: the go of its mints with no event yet."""
        self.on_chain: defaultdict[str, int] = defaultdict(int)
        """Per town in scope (id as text): its operations' events, mints minus burns."""
        self.unsettled: defaultdict[str, int] = defaultdict(int)
        """Per town in scope: its operations with no event yet, mints minus burns."""


def compare(
    session: Session,
    scope: Sequence[uuid.UUID] | None,
    ledger: Ledger,
    chain: Chain,
    findings: Findings,
) -> Addresses:
    """Outbox vs events, by reference; returns the addresses to check and their expected
    balances (confirmed operations, plus those mined but not yet marked confirmed)."""
    result = Addresses()
    expected = result.expected
    scoped_addresses: set[str] = set()
    confirmed = in_flight = not_yet = failed = 0
    on_chain, unsettled = result.on_chain, result.unsettled
    season_minted, season_unsettled = result.season_minted, result.season_unsettled
    topics: dict[str, str] = {}
    add = findings.add
    for sign, ops, events, duplicates, kinds in (
        (1, ledger.mints, chain.minted, chain.minted_duplicates, _MINT_KINDS),
        (-1, ledger.burns, chain.burned, chain.burned_duplicates, _BURN_KINDS),
    ):
        missing, amount_mismatch, address_mismatch, _, _, town_mismatch = kinds
        for reference, (state, amount, address, in_scope, town, season) in ops.items():
            event = events.pop(reference, None)
            topic = topics.get(town)
            if topic is None:
                topic = topics[town] = town_topic(town)
            if event is not None and event[3] != topic:
                # In another town's namespace: not this operation's event. The town's own
                # may be among the duplicates (both towns minted the reference).
                foreign, event = event, _own_duplicate(duplicates, reference, topic)
                if in_scope:
                    add(
                        town_mismatch,
                        reference=reference,
                        address=foreign[0],
                        expected=topic,
                        actual=foreign[3],
                        tx_hash=foreign[2],
                    )
            if sign == 1:
                if event is not None:
                    season_minted[(topic, season)] += event[1]
                elif in_scope:
                    season_unsettled[(topic, season)] += amount
            if in_scope:
                if event is None:
                    unsettled[town] += sign * amount
                else:
                    on_chain[town] += sign * event[1]
                if address is not None:
                    scoped_addresses.add(address)
                elif event is not None:
                    scoped_addresses.add(event[0])
            if state == CONFIRMED:
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
            elif state == FAILED:
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
            event_address, event_amount, tx_hash, _ = event
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

    # Events left over: operations created after the snapshot, or unknown to SQL.
    leftovers = [*chain.minted, *chain.burned]
    late = known_references(session, leftovers) if leftovers else {}
    scope_set = set(scope or ())
    unknown_addresses: set[str] = set()
    for sign, events, duplicates, op_kind, ops, kinds in (
        (1, chain.minted, chain.minted_duplicates, MINT, ledger.mints, _MINT_KINDS),
        (-1, chain.burned, chain.burned_duplicates, BURN, ledger.burns, _BURN_KINDS),
    ):
        unknown, duplicate = kinds[3], kinds[4]
        for reference, (event_address, event_amount, tx_hash, topic) in events.items():
            known = late.get(reference)
            if known is not None and known[0] == op_kind:
                in_scope = scope is None or known[1] in scope_set
                in_flight += in_scope
                if in_scope:
                    scoped_addresses.add(event_address)
                    on_chain[str(known[1])] += sign * event_amount
                expected[event_address] += sign * event_amount
                if sign == 1:
                    season_minted[(topic, known[2])] += event_amount
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
    return result


def _own_duplicate(duplicates: list[tuple[str, Event]], reference: str, topic: str) -> Event | None:
    """Take the event of ``reference`` in the town ``topic`` out of ``duplicates``, if any."""
    for index, (duplicate, event) in enumerate(duplicates):
        if duplicate == reference and event[3] == topic:
            del duplicates[index]
            return event
    return None


def _town_id(text: str) -> uuid.UUID:
    return uuid.UUID(text)  # PostgreSQL gives the dashed form, SQLite 32 hex digits


def municipality_totals(
    session: Session, scope: Sequence[uuid.UUID] | None, addresses: Addresses
) -> list[MunicipalityTotals]:
    """Each town's KOKU in circulation: by its issuance account's postings (an issuance
    account goes negative by exactly what the town has put out), and by the chain."""
    a, p, m = Account, Posting, Municipality
    ledger: dict[uuid.UUID, int] = {}
    for town, total in session.execute(
        select(a.municipality_id, func.sum(p.amount_go))
        .join(a, a.id == p.account_id)
        .where(a.kind == AccountKind.issuance, scope_filter(a.municipality_id, scope))
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


def check_supply(
    client: ChainClient,
    deployment: ChainDeployment,
    block: int,
    addresses: Addresses,
    findings: Findings,
) -> None:
    """totalSupply vs the sum of what every address should hold."""
    (total_supply,) = eth_calls(
        client, to_checksum_address(deployment.token_address), [TOTAL_SUPPLY_SELECTOR], hex(block)
    )
    expected_supply = sum(addresses.expected.values())
    if expected_supply != total_supply:
        findings.add(
            DiscrepancyKind.total_supply_mismatch, expected=expected_supply, actual=total_supply
        )


def town_seasons(
    session: Session,
    client: ChainClient,
    deployment: ChainDeployment,
    block: int,
    scope: Sequence[uuid.UUID] | None,
    addresses: Addresses,
    findings: Findings,
) -> list[TownSeason]:
    """Each town's seasons in scope: SQL's cap and issuance, the chain's cap and minted amount.

    The contract counts what each town minted per season; that must equal the town's
    ``Minted`` events of the season's operations (``season_minted_mismatch`` otherwise). A
    chain cap below SQL's is not a discrepancy: the admin has not signed the new cap yet, and
    the town's mints past the old one wait (``cap_on_chain`` false says so).
    """
    p, m = MunicipalityPolicy, Municipality
    rows = session.execute(
        select(p.municipality_id, m.name, p.season, p.yearly_cap_go, p.issued_go, p.reserved_go)
        .join(m, m.id == p.municipality_id)
        .where(scope_filter(p.municipality_id, scope))
        .order_by(m.name, p.municipality_id, p.season)
    ).all()
    if not rows:
        return []
    pairs = [(town_topic(str(town)), season) for town, _, season, _, _, _ in rows]
    on_chain = town_seasons_at(client, deployment.token_address, pairs, block)
    seasons: list[TownSeason] = []
    for (town, name, season, cap, issued, reserved), key, (chain_cap, chain_minted) in zip(
        rows, pairs, on_chain, strict=True
    ):
        by_events = addresses.season_minted.get(key, 0)
        if chain_minted != by_events:
            findings.add(
                DiscrepancyKind.season_minted_mismatch,
                municipality_id=town,
                expected=by_events,
                actual=chain_minted,
                detail=f"season {season}",
            )
        seasons.append(
            TownSeason(
                municipality_id=town,
                municipality_name=name,
                season=season,
                cap=Amount.of(cap),
                issued=Amount.of(issued),
                reserved=Amount.of(reserved),
                cap_left=Amount.of(max(cap - issued - reserved, 0)),
                chain_cap=Amount.of(chain_cap),
                chain_minted=Amount.of(chain_minted),
                allowance_left=Amount.of(max(chain_cap - chain_minted, 0)),
                unsettled=Amount.of(addresses.season_unsettled.get(key, 0)),
                cap_on_chain=chain_cap == cap,
            )
        )
    return seasons


def enrich(session: Session, items: list[Discrepancy]) -> None:
    """Name the issuance, person and town of each listed discrepancy (a few lookups for the
    listed ones only, so the fast path never parses a UUID), and checksum addresses."""
    op = ChainOperation
    references = [d.reference for d in items if d.reference and d.issuance_id is None]
    by_reference: dict[str, tuple[uuid.UUID | None, uuid.UUID, uuid.UUID]] = {}
    for chunk in chunks(references):
        for reference, issuance_id, user_id, town in session.execute(
            select(op.reference, op.issuance_id, op.user_id, op.municipality_id).where(
                op.reference.in_(chunk)
            )
        ):
            by_reference[reference] = (issuance_id, user_id, town)
    addresses = sorted({d.address for d in items if d.address and d.user_id is None})
    owners: dict[str, uuid.UUID] = {}
    for chunk in chunks(addresses):
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
    for chunk in chunks(towns):
        rows = session.execute(
            select(Municipality.id, Municipality.name).where(Municipality.id.in_(chunk))
        )
        town_names.update({town: name for town, name in rows})
    user_names: dict[uuid.UUID, str] = {}
    for chunk in chunks(people):
        rows = session.execute(select(User.id, User.display_name).where(User.id.in_(chunk)))
        user_names.update({user: name for user, name in rows})
    for item in items:
        if item.municipality_id is not None:
            item.municipality_name = town_names.get(item.municipality_id)
        if item.user_id is not None:
            item.user_name = user_names.get(item.user_id)
