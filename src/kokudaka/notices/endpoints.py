"""``/v1/me/notices``: a person's notices, newest first, and marking one read."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Query
from sqlalchemy import select, update

from kokudaka.auth.dependencies import CurrentUser
from kokudaka.core.db import DbSession, UnitOfWorkRoute
from kokudaka.core.errors import NotFound
from kokudaka.core.i18n import RequestLanguage
from kokudaka.core.pagination import Page, PageParams, next_cursor, page_params, paginate
from kokudaka.models import Notice, utcnow
from kokudaka.notices.schemas import NoticeRead, notice_text

router = APIRouter(route_class=UnitOfWorkRoute, tags=["me"])

Paging = Annotated[PageParams, Depends(page_params)]


def _read(notice: Notice, language: str) -> NoticeRead:
    return NoticeRead(
        id=notice.id,
        kind=notice.kind,
        subject_id=notice.subject_id,
        text=notice_text(notice.kind, notice.params, "ja" if language == "ja" else "en"),
        params=notice.params,
        created_at=notice.created_at,
        read_at=notice.read_at,
    )


@router.get("/v1/me/notices", summary="My notices, newest first")
def my_notices(
    session: DbSession,
    user: CurrentUser,
    paging: Paging,
    language: RequestLanguage,
    unread: Annotated[bool, Query(description="Only those not yet read.")] = False,
) -> Page[NoticeRead]:
    """The caller's notices, newest first and paged: a rice bill expiring in 30 and in 7 days,
    and a bill that expired and became a gift to its farmer. Each is made once; the app polls
    this list and marks what it showed as read.
    """
    statement = select(Notice).where(Notice.user_id == user.id)
    if unread:
        statement = statement.where(Notice.read_at.is_(None))
    rows, cursor = next_cursor(
        session.scalars(paginate(statement, Notice.id, paging)).all(), paging, lambda n: n.id
    )
    return Page(items=[_read(n, language) for n in rows], next_cursor=cursor)


@router.post(
    "/v1/me/notices/{notice_id}/read",
    summary="Mark one of my notices read",
    responses={404: {"description": "`not_found`: no such notice of the caller's"}},
)
def read_notice(
    notice_id: uuid.UUID, session: DbSession, user: CurrentUser, language: RequestLanguage
) -> NoticeRead:
    """Mark the notice read (once: reading it again keeps the first time)."""
    session.execute(
        update(Notice)
        .where(Notice.id == notice_id, Notice.user_id == user.id, Notice.read_at.is_(None))
        .values(read_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    notice = session.scalar(select(Notice).where(Notice.id == notice_id, Notice.user_id == user.id))
    if notice is None:
        raise NotFound("Notice")
    return _read(notice, language)
