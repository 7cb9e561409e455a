"""``/v1/ledger``: corrections by reversal."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, status

from kokudaka.auth.dependencies import TownAdmin
from kokudaka.auth.permissions import manages_municipality
from kokudaka.core.db import DbSession, UnitOfWorkRoute
from kokudaka.core.errors import NotFound
from kokudaka.core.i18n import RequestLanguage
from kokudaka.ledger import service
from kokudaka.ledger.memos import render_memo
from kokudaka.ledger.schemas import JournalEntryRead, ReversalRequest, chain_status_by_entry
from kokudaka.models import JournalEntry

router = APIRouter(route_class=UnitOfWorkRoute, tags=["ledger"])


@router.post(
    "/v1/ledger/entries/{entry_id}/reverse",
    status_code=status.HTTP_201_CREATED,
    summary="Reverse a mistaken issuance (town administrators, with a reason)",
)
def reverse_entry(
    entry_id: uuid.UUID,
    body: ReversalRequest,
    session: DbSession,
    admin: TownAdmin,
    language: RequestLanguage,
) -> JournalEntryRead:
    """Reverse a mistaken issuance, with a reason.

    For the town administrators of the entry's town. Nothing is edited: a new journal entry with
    opposite postings takes the 合 back (and they are burned on the chain). An entry is reversed at
    most once; a reversal gives no cap room back. A board issuance its work's harvest turned into a
    rice bill is not reversed (409 `issuance_converted`).
    """
    entry = session.get(JournalEntry, entry_id)
    if entry is None or not manages_municipality(admin, entry.municipality_id):
        raise NotFound("Journal entry")
    reversal, _ = service.reverse(session, entry_id=entry_id, actor=admin, reason=body.reason)
    read = JournalEntryRead.model_validate(reversal)
    read.memo = render_memo(reversal.memo_code, reversal.memo_params, reversal.memo, language)
    read.chain = chain_status_by_entry(session, [reversal.id]).get(reversal.id)
    return read
