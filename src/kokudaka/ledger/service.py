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


def _account(
    session: Session,
    key: str,
    kind: AccountKind,
    municipality_id: uuid.UUID | None,
    user_id: uuid.UUID | None,
) -> uuid.UUID:
    """Get or create an account by its unique key, safe under concurrent first use."""
    account_id = session.scalar(select(Account.id).where(Account.key == key))
    if account_id is not None:
        return account_id
    values = {
        "id": new_id(),
        "key": key,
        "kind": kind,
        "municipality_id": municipality_id,
        "user_id": user_id,
        "created_at": utcnow(),
    }
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    session.execute(insert(Account).values(**values).on_conflict_do_nothing(index_elements=["key"]))
    created = session.scalar(select(Account.id).where(Account.key == key))
    assert created is not None
    return created


def issuance_account_id(session: Session, municipality_id: uuid.UUID) -> uuid.UUID:
    return _account(
        session, f"issuance:{municipality_id}", AccountKind.issuance, municipality_id, None
    )


def holder_account_id(session: Session, user_id: uuid.UUID) -> uuid.UUID:
    return _account(session, f"holder:{user_id}", AccountKind.holder, None, user_id)


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
    """Gross go issued by a town in a season (reversals do not give cap back)."""
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
    if amount_go <= 0:
        raise ValueError("an issuance must be positive")
    policy = lock_policy(session, municipality_id, season)
    already = issued_go(session, municipality_id, season)
    if already + amount_go > policy.yearly_cap_go:
        raise Conflict("issuance_cap_exceeded", remaining_go=max(policy.yearly_cap_go - already, 0))
    source = issuance_account_id(session, municipality_id)
    target = holder_account_id(session, recipient.id)
    entry = JournalEntry(
        kind=EntryKind.issuance,
        municipality_id=municipality_id,
        idempotency_key=cause.idempotency_key,
        memo=cause.memo,
        created_by_id=actor_id,
    )
    session.add(entry)
    session.flush()
    session.add_all(
        [
            Posting(entry_id=entry.id, account_id=source, amount_go=-amount_go),
            Posting(entry_id=entry.id, account_id=target, amount_go=amount_go),
        ]
    )
    issuance = Issuance(
        entry_id=entry.id,
        kind=cause.kind,
        municipality_id=municipality_id,
        season=season,
        recipient_id=recipient.id,
        amount_go=amount_go,
        farmer_id=cause.farmer_id,
        work_id=cause.work_id,
        investment_id=cause.investment_id,
        activity_id=cause.activity_id,
        contribution_id=cause.contribution_id,
        price_yen_per_go=cause.price_yen_per_go,
        go_per_hour=cause.go_per_hour,
    )
    session.add(issuance)
    session.flush()
    session.add(
        ChainOperation(
            kind=ChainOperationKind.mint,
            entry_id=entry.id,
            issuance_id=issuance.id,
            municipality_id=municipality_id,
            user_id=recipient.id,
            reference=chain_reference(issuance.id),
            amount_go=amount_go,
        )
    )
    session.flush()
    return issuance


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
        .where(Account.key == f"holder:{user_id}")
    )
    return int(total or 0)
