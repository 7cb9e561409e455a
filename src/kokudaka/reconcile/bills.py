"""Rice bills (米手形) in a reconciliation: the bill outbox against the bills contract, per
work and holder, and the report's ``bills`` section.

- outbox vs events, by reference in the town's namespace as for KOKU: every confirmed bill
  operation has its ``BillMinted``/``BillBurned`` event with the same amount, holder and
  work; every event belongs to an operation; a skipped item (``BillMintSkipped``, a resend)
  repeats an event of its reference in its town;
- balances: per (holder address, work), confirmed mints minus burns (plus those mined but not
  yet marked confirmed) equal ERC-1155 ``balanceOf``, and their sum the work's
  ``totalSupply``;
- the work's registration (``workOf``): registered to its town for its season, its cap the
  work's bill total in SQL, what it counts as minted equal to its ``BillMinted`` events.

Pending and submitted operations with no event are unsettled, not discrepancies.
"""

from __future__ import annotations

import uuid
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from eth_utils.address import to_checksum_address
from sqlalchemy.orm import Session

from kokudaka.chain.bills import bill_token_id
from kokudaka.chain.client import ChainClient
from kokudaka.core.schemas import Amount
from kokudaka.models import ChainDeployment, ChainOperationKind
from kokudaka.reconcile.bills_chain import (
    BillChain,
    BillEvent,
    OnChainWork,
    bill_balances,
    read_bill_chain,
    works_at,
)
from kokudaka.reconcile.bills_ledger import (
    BillLedger,
    BillOp,
    bill_account,
    late_bill_references,
)
from kokudaka.reconcile.ledger import CONFIRMED, FAILED
from kokudaka.reconcile.report import DiscrepancyKind, Findings, WorkBills

__all__ = ["BillFindings", "reconcile_bills", "work_topic"]

_NO_TOWN = "0x" + "0" * 64


def work_topic(town: uuid.UUID) -> str:
    """A town's ``bytes32`` as an event topic (lower-case ``0x`` hex)."""
    return "0x" + "0" * 32 + town.hex


class BillFindings:
    """Adds bill discrepancies to the report's findings, counting them per work."""

    def __init__(self, findings: Findings) -> None:
        self.findings = findings
        self.per_work: Counter[uuid.UUID] = Counter()

    def __call__(self, kind: DiscrepancyKind, work_id: uuid.UUID | None, **fields: Any) -> None:
        if work_id is not None:
            self.per_work[work_id] += 1
        self.findings.add(kind, **fields)


@dataclass
class _Expected:
    """What each (holder, work) should hold, and what the works have settled."""

    balances: defaultdict[tuple[str, int], int] = field(default_factory=lambda: defaultdict(int))
    pairs: set[tuple[str, int]] = field(default_factory=set)
    """The (holder, work) pairs to read: the scope's, and those of unknown events."""
    minted_events: defaultdict[tuple[int, str], int] = field(
        default_factory=lambda: defaultdict(int)
    )
    """Per (work token, town topic): the go of its ``BillMinted`` events."""
    unsettled: defaultdict[uuid.UUID, int] = field(default_factory=lambda: defaultdict(int))
    settled: set[uuid.UUID] = field(default_factory=set)
    """Works with an operation confirmed or an event on chain."""
    holders: dict[tuple[str, int], uuid.UUID] = field(default_factory=dict)


def reconcile_bills(
    late: Session,
    client: ChainClient,
    deployment: ChainDeployment,
    block: int,
    scope: Sequence[uuid.UUID] | None,
    ledger: BillLedger,
    add: BillFindings,
) -> list[WorkBills]:
    """Compare ``ledger`` (read before ``block``) with the bills contract at ``block``; the
    report's section, one entry per work in scope with bills. ``late`` looks up operations
    created after the ledger was read."""
    address = deployment.bills_address
    if address is None:
        chain = BillChain()  # not deployed yet: every bill waits, none may be confirmed
    else:
        chain = read_bill_chain(client, address, deployment.deployed_block, block)
    if not ledger and not chain.minted and not chain.burned:
        return []
    expected = _compare(late, scope, ledger, chain, add)
    works = list(ledger.works.values())
    tokens = [bill_token_id(work.work_id) for work in works]
    if address is None:
        on_chain = [OnChainWork(_NO_TOWN, 0, 0, 0, 0) for _ in works]
        balances = dict.fromkeys(expected.pairs, 0)
    else:
        on_chain = works_at(client, address, tokens, block)
        balances = bill_balances(client, address, expected.pairs, block)
    supply: defaultdict[int, int] = defaultdict(int)
    for (_, token), go in expected.balances.items():
        supply[token] += go
    for pair in sorted(expected.pairs):
        holder, token = pair
        if balances[pair] != expected.balances.get(pair, 0):
            work_id = _work_of(token)  # None: a token id no work of ours could have
            user = expected.holders.get(pair)
            add(
                DiscrepancyKind.bill_balance_mismatch,
                work_id,
                address=holder,
                user_id=user,
                account=None if work_id is None else bill_account(work_id, user),
                expected=expected.balances.get(pair, 0),
                actual=balances[pair],
            )
    section: list[WorkBills] = []
    for work, token, chain_work in zip(works, tokens, on_chain, strict=True):
        own = work_topic(work.town)
        where = {"municipality_id": work.town, "account": bill_account(work.work_id)}
        registered = chain_work.town == own and chain_work.season == work.season
        if chain_work.town == _NO_TOWN:
            if work.work_id in expected.settled:
                add(DiscrepancyKind.bill_work_unregistered, work.work_id, expected=own, **where)
        elif chain_work.town != own:
            add(
                DiscrepancyKind.bill_work_town_mismatch,
                work.work_id,
                expected=own,
                actual=chain_work.town,
                **where,
            )
        else:
            if chain_work.season != work.season:
                add(
                    DiscrepancyKind.bill_work_season_mismatch,
                    work.work_id,
                    expected=work.season,
                    actual=chain_work.season,
                    **where,
                )
            if chain_work.cap != work.issued:
                add(
                    DiscrepancyKind.bill_work_cap_mismatch,
                    work.work_id,
                    expected=work.issued,
                    actual=chain_work.cap,
                    detail="expected: the work's bill total in SQL; actual: its cap on chain",
                    **where,
                )
        by_events = expected.minted_events.get((token, chain_work.town), 0)
        if chain_work.town != _NO_TOWN and chain_work.minted != by_events:
            add(
                DiscrepancyKind.bill_work_minted_mismatch,
                work.work_id,
                expected=by_events,
                actual=chain_work.minted,
                detail="expected: the work's BillMinted events; actual: workOf's minted",
                **where,
            )
        if chain_work.supply != supply.get(token, 0):
            add(
                DiscrepancyKind.bill_supply_mismatch,
                work.work_id,
                expected=supply.get(token, 0),
                actual=chain_work.supply,
                **where,
            )
        unsettled = expected.unsettled.get(work.work_id, 0)
        section.append(
            WorkBills(
                work_id=work.work_id,
                work_title=work.title,
                municipality_id=work.town,
                municipality_name=work.town_name,
                season=work.season,
                bills=work.bills,
                issued=Amount.of(work.issued),
                outstanding=Amount.of(work.outstanding),
                on_chain_minted=Amount.of(chain_work.minted),
                on_chain_outstanding=Amount.of(chain_work.supply),
                chain_cap=Amount.of(chain_work.cap),
                registered=registered,
                unsettled=Amount.of(unsettled),
                mismatches=add.per_work[work.work_id],
                agrees=work.outstanding == chain_work.supply + unsettled,
            )
        )
    section.sort(key=lambda w: (w.municipality_name, w.work_title, w.work_id))
    return section


def _compare(
    late: Session,
    scope: Sequence[uuid.UUID] | None,
    ledger: BillLedger,
    chain: BillChain,
    add: BillFindings,
) -> _Expected:
    """Bill operations vs events, by reference, as :func:`.compare.compare` does for KOKU."""
    result = _Expected()
    expected, pairs = result.balances, result.pairs
    scoped_towns = None if scope is None else {work_topic(town) for town in scope}
    landed = {
        (reference, event[3]): event
        for events, duplicates in (
            (chain.minted, chain.minted_duplicates),
            (chain.burned, chain.burned_duplicates),
        )
        for reference, event in [*events.items(), *duplicates]
    }
    for sign, ops, events, duplicates in (
        (1, ledger.mints, chain.minted, chain.minted_duplicates),
        (-1, ledger.burns, chain.burned, chain.burned_duplicates),
    ):
        verb = "mint" if sign == 1 else "burn"
        for reference, op in ops.items():
            event = _own_event(events, duplicates, reference, work_topic(op.town))
            # Whatever is left under the reference is in another town's namespace.
            foreign = events.pop(reference, None)
            _check_op(reference, op, event, foreign, sign, verb, result, add)
        # Events left over: operations created after the snapshot, or unknown to SQL.
        known = late_bill_references(late, list(events)) if events else {}
        for reference, event in events.items():
            holder, amount, tx_hash, town, token = event
            found = known.get(reference)
            kind = ChainOperationKind.mint if sign == 1 else ChainOperationKind.burn
            if found is not None and found[0] is kind:
                expected[(holder, token)] += sign * amount
                if scope is None or found[1] in scope:
                    pairs.add((holder, token))
                if sign == 1:
                    result.minted_events[(token, town)] += amount
                result.settled.add(found[2])
                continue
            if scoped_towns is None or town in scoped_towns:
                pairs.add((holder, token))
                add(
                    DiscrepancyKind.unknown_bill_mint
                    if sign == 1
                    else DiscrepancyKind.unknown_bill_burn,
                    _work_of(token),
                    reference=reference,
                    address=holder,
                    actual=amount,
                    tx_hash=tx_hash,
                    detail=_token_text(token),
                )
            if sign == 1:
                result.minted_events[(token, town)] += amount
        for reference, event in duplicates:
            owner = ops.get(reference)
            if (
                owner.in_scope
                if owner is not None
                else scoped_towns is None or event[3] in scoped_towns
            ):
                add(
                    DiscrepancyKind.duplicate_bill_event,
                    _work_of(event[4]),
                    reference=reference,
                    address=event[0],
                    actual=event[1],
                    tx_hash=event[2],
                    detail=f"{verb} in town {event[3]}",
                )
    for verb, skips in (("mint", chain.mint_skips), ("burn", chain.burn_skips)):
        for reference, skip in skips:
            if scoped_towns is not None and skip[3] not in scoped_towns:
                continue
            first = landed.get((reference, skip[3]))
            if first is None or (first[0], first[1], first[4]) != (skip[0], skip[1], skip[4]):
                add(
                    DiscrepancyKind.bill_skip_mismatch,
                    _work_of(skip[4]),
                    reference=reference,
                    address=skip[0],
                    expected=None if first is None else first[1],
                    actual=skip[1],
                    tx_hash=skip[2],
                    detail=f"a skipped {verb} with no {verb} of its reference in its town"
                    if first is None
                    else f"a skipped {verb} unlike the {verb} of its reference "
                    f"(holder, work or amount)",
                )
    return result


def _own_event(
    events: dict[str, BillEvent],
    duplicates: list[tuple[str, BillEvent]],
    reference: str,
    topic: str,
) -> BillEvent | None:
    """The event of ``reference`` in the town ``topic``, taken out of ``events`` or
    ``duplicates``; None when there is none in that town."""
    event = events.get(reference)
    if event is not None and event[3] == topic:
        del events[reference]
        return event
    for index, (duplicate, candidate) in enumerate(duplicates):
        if duplicate == reference and candidate[3] == topic:
            del duplicates[index]
            return candidate
    return None


def _check_op(
    reference: str,
    op: BillOp,
    event: BillEvent | None,
    foreign: BillEvent | None,
    sign: int,
    verb: str,
    result: _Expected,
    add: BillFindings,
) -> None:
    """One bill operation against its event (None: none in its town; ``foreign``: one in
    another town's namespace)."""
    token = bill_token_id(op.work)
    where: dict[str, Any] = {
        "reference": reference,
        "municipality_id": op.town,
        "user_id": op.user,
        "account": bill_account(op.work, op.user),
    }
    report = add if op.in_scope else _ignore
    if foreign is not None:
        report(
            DiscrepancyKind.bill_town_mismatch,
            op.work,
            address=foreign[0],
            expected=work_topic(op.town),
            actual=foreign[3],
            tx_hash=foreign[2],
            **where,
        )
    if op.in_scope and op.address is not None:
        result.pairs.add((op.address, token))
        result.holders[(op.address, token)] = op.user
    if event is None:
        if op.in_scope:
            result.unsettled[op.work] += sign * op.amount
    else:
        result.settled.add(op.work)
        if sign == 1:
            result.minted_events[(event[4], event[3])] += event[1]
    if op.state == CONFIRMED:
        result.settled.add(op.work)
        if op.address is None:
            report(DiscrepancyKind.confirmed_without_address, op.work, **where)
        else:
            result.balances[(op.address, token)] += sign * op.amount
        if event is None:
            report(
                DiscrepancyKind.bill_mint_missing
                if sign == 1
                else DiscrepancyKind.bill_burn_missing,
                op.work,
                address=op.address,
                expected=op.amount,
                **where,
            )
            return
    elif op.state == FAILED:
        report(
            DiscrepancyKind.operation_failed,
            op.work,
            address=op.address,
            expected=op.amount,
            actual=None if event is None else event[1],
            tx_hash=None if event is None else event[2],
            detail=f"a bill {verb}" + ("" if event is None else "; the chain has its event"),
            **where,
        )
        return
    elif event is None:
        return  # pending or submitted: unsettled
    else:
        # Mined, not yet marked confirmed: the worker is between send and receipt.
        result.balances[(event[0], event[4])] += sign * event[1]
        if op.in_scope:
            result.pairs.add((event[0], event[4]))
    holder, amount, tx_hash, _, event_token = event
    if amount != op.amount:
        report(
            DiscrepancyKind.bill_amount_mismatch,
            op.work,
            address=holder,
            expected=op.amount,
            actual=amount,
            tx_hash=tx_hash,
            detail=f"a bill {verb}",
            **where,
        )
    if op.address is not None and holder != op.address:
        report(
            DiscrepancyKind.bill_recipient_mismatch,
            op.work,
            address=op.address,
            expected=to_checksum_address(op.address),
            actual=to_checksum_address(holder),
            tx_hash=tx_hash,
            detail=f"a bill {verb}",
            **where,
        )
    if event_token != token:
        report(
            DiscrepancyKind.bill_work_mismatch,
            op.work,
            address=holder,
            expected=str(op.work),
            actual=str(_work_of(event_token)),
            tx_hash=tx_hash,
            **where,
        )
        if op.in_scope:
            result.pairs.add((holder, event_token))


def _ignore(*_: Any, **__: Any) -> None:
    """Out of scope: compared, not reported."""


def _work_of(token: int) -> uuid.UUID | None:
    return uuid.UUID(int=token) if 0 < token < 2**128 else None


def _token_text(token: int) -> str:
    work = _work_of(token)
    return f"work {work}" if work is not None else f"token id {token:#x}"
