"""Writing to the ledger. Every issuance in the service goes through :func:`issue`.

One call writes, in the caller's transaction: the journal entry and its two postings
(summing to zero), the issuance record with the rate it used, and the pending chain
operation (the outbox the settlement worker sends after commit). The municipality's
policy row is locked first, so the yearly-cap check and the write cannot interleave
with another issuance of the same town and season.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from kokudaka.chain.refs import issuance_ref
from kokudaka.core.errors import Conflict, NotFound
from kokudaka.core.ids import new_id
from kokudaka.models import (
    Account,
    AccountKind,
    ChainOperation,
    ChainOperationKind,
    ChainState,
    EntryKind,
    Issuance,
    IssuanceKind,
    JournalEntry,
    MunicipalityPolicy,
    Posting,
    User,
    utcnow,
)


def chain_reference(value: uuid.UUID) -> str:
    """The ``bytes32`` reference of a chain operation, as ``0x`` hex (see chain.refs)."""
    return "0x" + issuance_ref(value).hex()


def _account_ids(
    session: Session, wanted: dict[str, tuple[AccountKind, uuid.UUID | None, uuid.UUID | None]]
) -> dict[str, uuid.UUID]:
    """Get or create accounts by their unique keys, in one query when they all exist.

    Creation is an insert that ignores a conflict, so two first uses at once (two
    requests for a new supporter) both end with the one account.
    """
    found = dict(
        session.execute(select(Account.key, Account.id).where(Account.key.in_(list(wanted)))).all()
    )
    missing = [key for key in wanted if key not in found]
    if missing:
        dialect = session.get_bind().dialect.name
        insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
        for key in missing:
            kind, municipality_id, user_id = wanted[key]
            session.execute(
                insert(Account)
                .values(
                    id=new_id(),
                    key=key,
                    kind=kind,
                    municipality_id=municipality_id,
                    user_id=user_id,
                    created_at=utcnow(),
                )
                .on_conflict_do_nothing(index_elements=["key"])
            )
        found.update(
            session.execute(select(Account.key, Account.id).where(Account.key.in_(missing))).all()
        )
    return found


def issuance_account_key(municipality_id: uuid.UUID) -> str:
    return f"issuance:{municipality_id}"


def holder_account_key(user_id: uuid.UUID) -> str:
    return f"holder:{user_id}"


def lock_policy(session: Session, municipality_id: uuid.UUID, season: int) -> MunicipalityPolicy:
    policy = session.scalar(
        select(MunicipalityPolicy)
        .where(
            MunicipalityPolicy.municipality_id == municipality_id,
            MunicipalityPolicy.season == season,
        )
        .with_for_update()
    )
    if policy is None:
        raise Conflict("policy_missing", season=season)
    return policy


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
    memo: str
    farmer_id: uuid.UUID | None = None
    work_id: uuid.UUID | None = None
    investment_id: uuid.UUID | None = None
    activity_id: uuid.UUID | None = None
    contribution_id: uuid.UUID | None = None
    price_yen_per_go: int | None = None
    go_per_hour: int | None = None


def issue(
    session: Session,
    *,
    municipality_id: uuid.UUID,
    season: int,
    recipient: User,
    amount_go: int,
    cause: IssuanceCause,
    actor_id: uuid.UUID | None,
) -> Issuance:
    """Issue ``amount_go`` to ``recipient`` (see :func:`issue_with_mint`)."""
    issuance, _ = issue_with_mint(
        session,
        municipality_id=municipality_id,
        season=season,
        recipient_id=recipient.id,
        amount_go=amount_go,
        cause=cause,
        actor_id=actor_id,
    )
    return issuance


def issue_with_mint(
    session: Session,
    *,
    municipality_id: uuid.UUID,
    season: int,
    recipient_id: uuid.UUID,
    amount_go: int,
    cause: IssuanceCause,
    actor_id: uuid.UUID | None,
) -> tuple[Issuance, ChainOperation]:
    """Write the entry, its postings, the issuance and its pending mint, all in one
    flush; returns the issuance and its mint."""
    if amount_go <= 0:
        raise ValueError("an issuance must be positive")
    policy = lock_policy(session, municipality_id, season)
    if policy.issued_go + amount_go > policy.yearly_cap_go:
        raise Conflict(
            "issuance_cap_exceeded", remaining_go=max(policy.yearly_cap_go - policy.issued_go, 0)
        )
    policy.issued_go += amount_go
    source_key = issuance_account_key(municipality_id)
    target_key = holder_account_key(recipient_id)
    accounts = _account_ids(
        session,
        {
            source_key: (AccountKind.issuance, municipality_id, None),
            target_key: (AccountKind.holder, None, recipient_id),
        },
    )
    # Ids are assigned here, not by the database, so every row can be added before a
    # single flush writes them all.
    entry = JournalEntry(
        id=new_id(),
        kind=EntryKind.issuance,
        municipality_id=municipality_id,
        idempotency_key=cause.idempotency_key,
        memo=cause.memo,
        created_by_id=actor_id,
    )
    issuance = Issuance(
        id=new_id(),
        entry_id=entry.id,
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
    )
    mint = ChainOperation(
        id=new_id(),
        kind=ChainOperationKind.mint,
        entry_id=entry.id,
        issuance_id=issuance.id,
        municipality_id=municipality_id,
        user_id=recipient_id,
        reference=chain_reference(issuance.id),
        amount_go=amount_go,
        state=ChainState.pending,
        attempts=0,
        next_attempt_at=utcnow(),
    )
    session.add_all(
        [
            entry,
            Posting(
                id=new_id(),
                entry_id=entry.id,
                account_id=accounts[source_key],
                amount_go=-amount_go,
            ),
            Posting(
                id=new_id(), entry_id=entry.id, account_id=accounts[target_key], amount_go=amount_go
            ),
            issuance,
            mint,
        ]
    )
    session.flush()
    return issuance, mint


def reverse(
    session: Session, *, entry_id: uuid.UUID, actor: User, reason: str
) -> tuple[JournalEntry, Issuance]:
    """Undo an issuance with a new entry of opposite postings and a pending burn.

    The caller checks that the actor administers the entry's municipality.
    """
    entry = session.scalar(
        select(JournalEntry).where(JournalEntry.id == entry_id).with_for_update()
    )
    if entry is None:
        raise NotFound("Journal entry")
    if entry.kind is not EntryKind.issuance:
        raise Conflict("entry_not_reversible")
    issuance = session.scalar(select(Issuance).where(Issuance.entry_id == entry.id))
    assert issuance is not None
    if issuance.reversal_entry_id is not None:
        raise Conflict("entry_already_reversed")
    reversal = JournalEntry(
        kind=EntryKind.reversal,
        municipality_id=entry.municipality_id,
        idempotency_key=f"reversal:{entry.id}",
        reverses_entry_id=entry.id,
        memo=reason,
        created_by_id=actor.id,
    )
    session.add(reversal)
    session.flush()
    postings = session.scalars(select(Posting).where(Posting.entry_id == entry.id)).all()
    session.add_all(
        Posting(entry_id=reversal.id, account_id=p.account_id, amount_go=-p.amount_go)
        for p in postings
    )
    issuance.reversal_entry_id = reversal.id
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
    return reversal, issuance


def balance_go(session: Session, user_id: uuid.UUID) -> int:
    """A person's balance: the sum of the postings on their holder account."""
    total = session.scalar(
        select(func.coalesce(func.sum(Posting.amount_go), 0))
        .join(Account, Account.id == Posting.account_id)
        .where(Account.key == holder_account_key(user_id))
    )
    return int(total or 0)
