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
- with every municipality in scope: the same sum equals ``totalSupply``;
- per town and season: what the contract counts as the town's minted amount equals the town's
  ``Minted`` events of that season (each event is in its town's namespace of references, and
  a reference minted in another town's namespace is a discrepancy); the report shows SQL's cap
  and issuance beside the chain's cap, minted amount and allowance left;
- the ledger itself: every entry's postings sum to zero in each asset, every account's running
  balance equals its postings (:mod:`.entries`);
- rice bills, per work and holder, against the bills contract (:mod:`.bills`): the bill outbox
  against ``BillMinted``/``BillBurned`` events, ERC-1155 balances and each work's registration;
  the KOKU side of a harvest conversion (one burn per converted board issuance) is an ordinary
  KOKU burn above.

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
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager, nullcontext

from eth_utils.address import to_checksum_address
from sqlalchemy.orm import Session

from kokudaka.chain.client import ChainClient
from kokudaka.models import (
    ChainDeployment,
    utcnow,
)
from kokudaka.reconcile.bills import BillFindings, reconcile_bills
from kokudaka.reconcile.bills_ledger import read_bill_ledger
from kokudaka.reconcile.compare import (
    check_supply,
    compare,
    enrich,
    municipality_totals,
    town_seasons,
)
from kokudaka.reconcile.entries import check_entries
from kokudaka.reconcile.ledger import (
    check_ledger_vs_outbox,
    collect_operations,
    operations_statement,
)
from kokudaka.reconcile.onchain import balances_at, read_chain
from kokudaka.reconcile.report import (
    DEFAULT_LIMIT,
    PROGRESS_EVERY,
    DiscrepancyKind,
    Findings,
    KokuTotals,
    Progress,
    ReconciliationCounts,
    ReconciliationReport,
    Ticker,
)

__all__ = ["reconcile"]


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


def reconcile(
    session: Session,
    client: ChainClient,
    deployment: ChainDeployment,
    municipality_ids: Iterable[uuid.UUID] | None = None,
    progress: Progress | None = None,
    *,
    limit: int = DEFAULT_LIMIT,
    progress_every: int = PROGRESS_EVERY,
    recent: Callable[[], Session] | None = None,
) -> ReconciliationReport:
    """Compare the ledger and outbox in ``session`` with the KOKU contract of ``deployment``.

    ``municipality_ids=None`` checks everything, including ``totalSupply``; a list restricts
    the report to those towns' operations, issuances, people, seasons and the addresses their
    operations used (an address's balance is still compared with every town's operations to
    it: a holder's balance is one number, whichever towns minted it). Chain failures raise
    :class:`~kokudaka.chain.errors.ChainError`; SQL is only read.

    ``session`` may read one snapshot throughout (:func:`kokudaka.core.db.read_snapshot`), so
    that its statements agree with each other while writers go on. Events whose operation
    the snapshot does not have are then looked up in a session of their own from ``recent``,
    which sees what was committed since; without it they are looked up in ``session``.
    """
    started = time.monotonic()
    checked_at = utcnow()
    scope = None if municipality_ids is None else list(dict.fromkeys(municipality_ids))
    token = to_checksum_address(deployment.token_address)
    if client.koku_address != token:
        raise ValueError(f"the client uses {client.koku_address}, the deployment is {token}")
    everything = scope is None
    tick = Ticker(progress, progress_every)
    findings = Findings(limit)
    bill_findings = BillFindings(findings)
    with _gc_paused():
        # Bills first: like the KOKU outbox below, read before the block is.
        bill_ledger = read_bill_ledger(session, scope, bill_findings)
        # The outbox statement runs first, so its snapshot predates the block read next (see
        # the module docstring). Then three things overlap: the events are read in one
        # thread while the outbox rows stream here; the balances of the addresses in the
        # outbox are read in another while the ledger checks run here.
        result = session.execute(operations_statement(scope))
        with ThreadPoolExecutor(max_workers=2, thread_name_prefix="reconcile") as pool:
            try:
                chain_id = client.chain_id()
                block = client.block_number()
                reading = pool.submit(read_chain, client, deployment, block, tick)
                ledger = collect_operations(result, tick)
            finally:
                result.close()  # a server-side cursor on PostgreSQL
            balancing = pool.submit(balances_at, client, token, ledger.addresses, block, tick)
            check_ledger_vs_outbox(session, scope, ledger, findings)
            check_entries(session, scope, findings)
            chain = reading.result()
            balances = balancing.result()
        with nullcontext(session) if recent is None else recent() as late:
            addresses = compare(late, scope, ledger, chain, findings)
            bills = reconcile_bills(
                late, client, deployment, block, scope, bill_ledger, bill_findings
            )
        missing = addresses - balances.keys()
        if missing:  # only addresses known from events alone: unknown or late operations
            balances |= balances_at(client, token, missing, block, tick)
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
            check_supply(client, deployment, block, addresses, findings)
        seasons = town_seasons(session, client, deployment, block, scope, addresses, findings)
    enrich(session, findings.items)
    town_totals = municipality_totals(session, scope, addresses)
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
        seasons=seasons,
        bills_address=None
        if deployment.bills_address is None
        else to_checksum_address(deployment.bills_address),
        bills=bills,
        discrepancies=findings.items,
        truncated=len(findings.items) < total,
    )
