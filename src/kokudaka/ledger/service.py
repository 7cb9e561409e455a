"""Writing to the ledger. Every issuance in the service goes through :func:`issue`.

One call writes, in the caller's transaction: the journal entry and its two postings
(summing to zero), the issuance record with the rate it used, and the pending chain
operation (the outbox the settlement worker sends after commit). The town's room
under its yearly cap is claimed first, by one conditional UPDATE of its policy row:
that row stays locked to the end of the transaction, so the cap check and the write
cannot interleave with another issuance of the same town and season.

The cap covers what is issued and what investments awaiting payment have reserved
(:func:`reserve_cap_room` when one is made, :func:`release_cap_room` when it is
cancelled); confirming one turns its reservation into issuance, so a payment the
town has accepted can always be issued.

:func:`issue` writes with Core statements (see ``kokudaka.models.base.table_of``); it
runs on every confirmed payment and approved contribution, and on SQLite the write
lock is held for its whole transaction. The rarer reversal uses the ORM.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Update, bindparam, func, insert, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from kokudaka.audit.staff_log import append_staff_action
from kokudaka.auth.caller import Caller
from kokudaka.chain.refs import issuance_ref
from kokudaka.core.errors import Conflict, NotFound
from kokudaka.core.ids import new_id
from kokudaka.ledger.daily import move_issuance_days
from kokudaka.ledger.memos import Memo
from kokudaka.ledger.regions import move_region_supporter_season
from kokudaka.ledger.repository import account_balance
from kokudaka.models import (
    Account,
    AccountKind,
    ChainAsset,
    ChainOperation,
    ChainOperationKind,
    ChainState,
    EntryKind,
    Issuance,
    IssuanceKind,
    JournalEntry,
    MunicipalityPolicy,
    Posting,
    StaffAction,
    SupporterSeason,
    Written,
    table_of,
    utcnow,
    written,
)

accounts = table_of(Account)
entries = table_of(JournalEntry)
postings = table_of(Posting)
issuances = table_of(Issuance)
chain_operations = table_of(ChainOperation)
supporter_seasons = table_of(SupporterSeason)
policies = table_of(MunicipalityPolicy)

# Built once at import: building a statement costs about as much as running it. The
# two keys are two plain parameters: an expanding IN is rendered again on every call.
_ACCOUNT_IDS = select(accounts.c.key, accounts.c.id).where(
    accounts.c.key.in_([bindparam("source_key"), bindparam("target_key")])
)
_THE_POLICY = (
    policies.c.municipality_id == bindparam("town_id"),
    policies.c.season == bindparam("in_season"),
)
# New go fits if what is issued, what is reserved and the new go stay within the cap.
_FITS = policies.c.issued_go + policies.c.reserved_go + bindparam("go") <= policies.c.yearly_cap_go
_CLAIM_CAP_ROOM = (
    update(policies)
    .where(*_THE_POLICY, _FITS)
    .values(issued_go=policies.c.issued_go + bindparam("go"))
)
_RESERVE_CAP_ROOM = (
    update(policies)
    .where(*_THE_POLICY, _FITS)
    .values(reserved_go=policies.c.reserved_go + bindparam("go"))
)
# Reserved go needs no new room, only that issuance itself stays within the cap: always
# true for a reservation made under the cap (a cap is never lowered below what is
# issued and reserved); false only for investments accepted before reservations
# existed past a full cap, which must not be issued past it.
_ISSUE_RESERVED = (
    update(policies)
    .where(*_THE_POLICY, policies.c.issued_go + bindparam("go") <= policies.c.yearly_cap_go)
    .values(
        issued_go=policies.c.issued_go + bindparam("go"),
        reserved_go=policies.c.reserved_go - bindparam("go"),
    )
)
_RELEASE_CAP_ROOM = (
    update(policies)
    .where(*_THE_POLICY)
    .values(reserved_go=policies.c.reserved_go - bindparam("go"))
)
_CAP_ROOM = select(policies.c.yearly_cap_go, policies.c.issued_go, policies.c.reserved_go).where(
    *_THE_POLICY
)
_INSERT_ENTRY = insert(entries)
_INSERT_POSTINGS = insert(postings)
# Each posting of an issuance or a reversal moves its account's running balance and what
# it earned (the rank's 石高) in the same transaction; a conversion moves only the balance.
_MOVE_BALANCE = (
    update(accounts)
    .where(accounts.c.id == bindparam("account_id"))
    .values(
        balance_go=accounts.c.balance_go + bindparam("amount_go"),
        earned_go=accounts.c.earned_go + bindparam("amount_go"),
    )
)
# No RETURNING: every column is given, so the rows are known as written (Written);
# reading them back would cost more than the insert.
_INSERT_ISSUANCE = insert(issuances)
_INSERT_MINT = insert(chain_operations)


def _count_supporter(dialect: Any) -> Any:
    """Add ``investments`` and ``contributions`` (one of them 1, or -1 for a reversal) to
    the supporter's row for the town and season, creating it on first use: one upsert,
    so two first issuances at once for the same person end in the one row."""
    statement = dialect.insert(supporter_seasons)
    return statement.on_conflict_do_update(
        index_elements=["municipality_id", "season", "user_id"],
        set_={
            "investments": supporter_seasons.c.investments + statement.excluded.investments,
            "contributions": supporter_seasons.c.contributions + statement.excluded.contributions,
        },
    )


_COUNT_SUPPORTER = {"postgresql": _count_supporter(postgresql), "sqlite": _count_supporter(sqlite)}


def _memo_columns(memo: Memo) -> dict[str, Any]:
    return {"memo": memo.text("en"), "memo_code": memo.code, "memo_params": memo.params}


def chain_reference(value: uuid.UUID) -> str:
    """The ``bytes32`` reference of a chain operation, as ``0x`` hex (see chain.refs)."""
    return "0x" + issuance_ref(value).hex()


@dataclass(frozen=True, slots=True)
class _AccountSpec:
    key: str
    kind: AccountKind
    municipality_id: uuid.UUID | None = None
    user_id: uuid.UUID | None = None


def _account_ids(
    conn: Connection, source: _AccountSpec, target: _AccountSpec
) -> tuple[uuid.UUID, uuid.UUID]:
    """Get or create the two accounts by their unique keys, in one query when both exist.

    Creation is an insert that ignores a conflict, so two first uses at once (two
    requests for a new supporter) both end with the one account.
    """
    keys = {"source_key": source.key, "target_key": target.key}
    found: dict[str, uuid.UUID] = {key: id_ for key, id_ in conn.execute(_ACCOUNT_IDS, keys)}
    if len(found) < 2:
        upsert = postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert
        for account in (source, target):
            if account.key in found:
                continue
            conn.execute(
                upsert(accounts)
                .values(
                    id=new_id(),
                    key=account.key,
                    kind=account.kind,
                    municipality_id=account.municipality_id,
                    user_id=account.user_id,
                    created_at=utcnow(),
                )
                .on_conflict_do_nothing(index_elements=["key"])
            )
        found = {key: id_ for key, id_ in conn.execute(_ACCOUNT_IDS, keys)}
    return found[source.key], found[target.key]


def _move_balances(conn: Connection, legs: list[dict[str, Any]]) -> None:
    """Add each posting (``account_id``, ``amount_go``) of an issuance or a reversal to its
    account's running balance and earned total.

    One executemany, in the order of the account ids: two transactions that post to
    the same accounts then lock their rows in the same order and cannot deadlock.
    """
    moves = sorted((leg["account_id"], leg["amount_go"]) for leg in legs)
    # Only these two keys: any other that names a column (``id``) would be SET too.
    conn.execute(_MOVE_BALANCE, [{"account_id": a, "amount_go": go} for a, go in moves])


def _move_supporter_season(conn: Connection, issuance: Issuance | Written, step: int) -> None:
    """Count the issuance (``step`` 1) or its reversal (``step`` -1) in the recipient's
    :class:`SupporterSeason` with the town, and in the one with the town's region."""
    is_investment = issuance.kind is IssuanceKind.investment
    conn.execute(
        _COUNT_SUPPORTER[conn.dialect.name],
        {
            "municipality_id": issuance.municipality_id,
            "season": issuance.season,
            "user_id": issuance.recipient_id,
            "investments": step if is_investment else 0,
            "contributions": 0 if is_investment else step,
        },
    )
    move_region_supporter_season(conn, issuance, step)


def issuance_account_key(municipality_id: uuid.UUID) -> str:
    return f"issuance:{municipality_id}"


def holder_account_key(user_id: uuid.UUID) -> str:
    return f"holder:{user_id}"


def issued_go(session: Session, municipality_id: uuid.UUID, season: int) -> int:
    """Gross go issued by a town in a season, summed from the issuances.

    The hot path reads the running total ``MunicipalityPolicy.issued_go`` instead;
    this sum is what that total is checked against.
    """
    total = session.scalar(
        select(func.coalesce(func.sum(Issuance.amount_go), 0)).where(
            Issuance.municipality_id == municipality_id, Issuance.season == season
        )
    )
    return int(total or 0)


@dataclass(frozen=True)
class IssuanceCause:
    """What an issuance is for, with the rate it used, stored on the issuance."""

    kind: IssuanceKind
    idempotency_key: str
    memo: Memo
    farmer_id: uuid.UUID | None = None
    work_id: uuid.UUID | None = None
    investment_id: uuid.UUID | None = None
    activity_id: uuid.UUID | None = None
    contribution_id: uuid.UUID | None = None
    price_yen_per_go: int | None = None
    go_per_hour: int | None = None


@dataclass(frozen=True)
class Issued:
    """The issuance and its pending mint as written (read by attribute like the
    models), so a caller can answer without reading them back."""

    issuance: Written
    mint: Written


def _claim_cap_room(
    conn: Connection, claim: Update, municipality_id: uuid.UUID, season: int, go: int
) -> None:
    """Run one of the conditional UPDATEs of the policy row above, or refuse.

    One conditional UPDATE: it locks the policy row (PostgreSQL re-checks the condition
    on the row a concurrent issuance committed), so two requests can never both take
    the last room. Only a refusal reads the row, to say how much room is left.
    """
    where = {"town_id": municipality_id, "in_season": season}
    if conn.execute(claim, {**where, "go": go}).rowcount == 1:
        return
    policy = conn.execute(_CAP_ROOM, where).first()
    if policy is None:
        raise Conflict("policy_missing", season=season)
    left = policy.yearly_cap_go - policy.issued_go - policy.reserved_go
    raise Conflict("issuance_cap_exceeded", remaining_go=max(left, 0))


def reserve_cap_room(
    session: Session, *, municipality_id: uuid.UUID, season: int, amount_go: int
) -> None:
    """Hold ``amount_go`` of the season's cap for an investment awaiting payment, or
    refuse with ``issuance_cap_exceeded`` saying how much room is left."""
    _claim_cap_room(session.connection(), _RESERVE_CAP_ROOM, municipality_id, season, amount_go)


def release_cap_room(
    session: Session, *, municipality_id: uuid.UUID, season: int, amount_go: int
) -> None:
    """Give back what an investment reserved (it was cancelled before payment)."""
    session.connection().execute(
        _RELEASE_CAP_ROOM, {"town_id": municipality_id, "in_season": season, "go": amount_go}
    )


def issue(
    session: Session,
    *,
    municipality_id: uuid.UUID,
    season: int,
    recipient_id: uuid.UUID,
    amount_go: int,
    cause: IssuanceCause,
    actor_id: uuid.UUID | None,
    reserved: bool = False,
) -> Issued:
    """Issue ``amount_go`` to ``recipient_id``: the entry, its two postings, the
    issuance and its pending mint, in the session's transaction.

    ``reserved``: the go was reserved under the cap beforehand (an investment, when it
    was made), so issuing moves it from reserved to issued instead of claiming room.
    """
    if amount_go <= 0:
        raise ValueError("an issuance must be positive")
    conn = session.connection()
    source_id, target_id = _account_ids(
        conn,
        _AccountSpec(
            issuance_account_key(municipality_id),
            AccountKind.issuance,
            municipality_id=municipality_id,
        ),
        _AccountSpec(holder_account_key(recipient_id), AccountKind.holder, user_id=recipient_id),
    )
    now = utcnow()
    entry_id, issuance_id = new_id(), new_id()
    conn.execute(
        _INSERT_ENTRY,
        {
            "id": entry_id,
            "kind": EntryKind.issuance,
            "municipality_id": municipality_id,
            "idempotency_key": cause.idempotency_key,
            "reverses_entry_id": None,
            "memo": cause.memo.text("en"),
            "memo_code": cause.memo.code,
            "memo_params": cause.memo.params,
            "created_by_id": actor_id,
            "created_at": now,
        },
    )
    legs = [
        {"id": new_id(), "entry_id": entry_id, "account_id": source_id, "amount_go": -amount_go},
        {"id": new_id(), "entry_id": entry_id, "account_id": target_id, "amount_go": amount_go},
    ]
    conn.execute(_INSERT_POSTINGS, legs)
    issuance = written(
        issuances,
        id=issuance_id,
        entry_id=entry_id,
        kind=cause.kind,
        municipality_id=municipality_id,
        season=season,
        recipient_id=recipient_id,
        amount_go=amount_go,
        farmer_id=cause.farmer_id,
        work_id=cause.work_id,
        investment_id=cause.investment_id,
        activity_id=cause.activity_id,
        contribution_id=cause.contribution_id,
        price_yen_per_go=cause.price_yen_per_go,
        go_per_hour=cause.go_per_hour,
        reversal_entry_id=None,
        conversion_entry_id=None,
        created_at=now,
    )
    mint = written(
        chain_operations,
        id=new_id(),
        asset=ChainAsset.koku,
        kind=ChainOperationKind.mint,
        entry_id=entry_id,
        issuance_id=issuance_id,
        bill_id=None,
        municipality_id=municipality_id,
        user_id=recipient_id,
        reference=chain_reference(issuance_id),
        amount_go=amount_go,
        state=ChainState.pending,
        attempts=0,
        next_attempt_at=now,
        recipient_address=None,
        transaction_id=None,
        tx_hash=None,
        block_number=None,
        last_error=None,
        created_at=now,
        updated_at=now,
    )
    conn.execute(_INSERT_ISSUANCE, vars(issuance))
    conn.execute(_INSERT_MINT, vars(mint))
    # The rows every issuance of the town updates come last, in this order in every
    # transaction: on PostgreSQL a row stays locked from its UPDATE to the commit, and
    # issuances of one town queue on them. The new rows above lock nothing another
    # issuance waits for. A refused cap rolls the whole transaction back.
    claim = _ISSUE_RESERVED if reserved else _CLAIM_CAP_ROOM
    _claim_cap_room(conn, claim, municipality_id, season, amount_go)
    _move_balances(conn, legs)
    _move_supporter_season(conn, issuance, 1)
    move_issuance_days(conn, issuance, 1)
    return Issued(issuance=issuance, mint=mint)


def reverse(
    session: Session, *, entry_id: uuid.UUID, actor: Caller, reason: str
) -> tuple[JournalEntry, Issuance]:
    """Undo an issuance with a new entry of opposite postings and a pending burn.

    The caller checks that the actor administers the entry's municipality.
    """
    entry = session.scalar(
        select(JournalEntry).where(JournalEntry.id == entry_id).with_for_update(key_share=True)
    )
    if entry is None:
        raise NotFound("Journal entry")
    if entry.kind is not EntryKind.issuance:
        raise Conflict("entry_not_reversible")
    # Locked: a harvest conversion of the same board issuance is then either committed
    # (and seen here) or waits for this reversal.
    issuance = session.scalar(
        select(Issuance).where(Issuance.entry_id == entry.id).with_for_update(key_share=True)
    )
    assert issuance is not None
    if issuance.reversal_entry_id is not None:
        raise Conflict("entry_already_reversed")
    if issuance.conversion_entry_id is not None:
        # Its KOKU became a rice bill at the harvest: there is no KOKU left to take back.
        raise Conflict("issuance_converted")
    reversal = JournalEntry(
        kind=EntryKind.reversal,
        municipality_id=entry.municipality_id,
        idempotency_key=f"reversal:{entry.id}",
        reverses_entry_id=entry.id,
        **_memo_columns(Memo("reversal", {"reason": reason})),
        created_by_id=actor.id,
    )
    session.add(reversal)
    session.flush()
    postings = session.scalars(select(Posting).where(Posting.entry_id == entry.id)).all()
    session.add_all(
        Posting(entry_id=reversal.id, account_id=p.account_id, amount_go=-p.amount_go)
        for p in postings
    )
    _move_balances(
        session.connection(),
        [{"account_id": p.account_id, "amount_go": -p.amount_go} for p in postings],
    )
    issuance.reversal_entry_id = reversal.id
    _move_supporter_season(session.connection(), issuance, -1)
    move_issuance_days(session.connection(), issuance, -1)
    session.add(
        ChainOperation(
            kind=ChainOperationKind.burn,
            entry_id=reversal.id,
            issuance_id=issuance.id,
            municipality_id=entry.municipality_id,
            user_id=issuance.recipient_id,
            reference=chain_reference(reversal.id),
            amount_go=issuance.amount_go,
        )
    )
    session.flush()
    append_staff_action(
        session,
        actor,
        StaffAction.issuance_reverse,
        object_type="journal_entry",
        object_id=entry.id,
        data={"reason": reason, "reversal_entry_id": reversal.id, "issuance_id": issuance.id},
        municipality_id=entry.municipality_id,
    )
    return reversal, issuance


def balance_go(session: Session, user_id: uuid.UUID) -> int:
    """A person's balance: the running total on their holder account (0 before their
    first issuance), one row however many postings it sums (see ``Account.balance_go``)."""
    return account_balance(session, holder_account_key(user_id))
