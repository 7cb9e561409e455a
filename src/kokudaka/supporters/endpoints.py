"""``/v1/me``: profile, balance, ledger, investments and contributions of the caller."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends
from fastapi.responses import Response
from sqlalchemy import select

from kokudaka.auth.caller import take_account_check
from kokudaka.auth.dependencies import CurrentUser
from kokudaka.auth.service import account_of
from kokudaka.core.db import DbSession, UnitOfWorkRoute
from kokudaka.core.i18n import RequestLanguage
from kokudaka.core.pagination import Page, PageParams, next_cursor, page_params, paginate
from kokudaka.core.responses import json_answer
from kokudaka.investments.schemas import InvestmentRead
from kokudaka.investments.service import to_read
from kokudaka.ledger import service as ledger
from kokudaka.ledger.repository import account_history, holder_balance
from kokudaka.ledger.schemas import LedgerLine, ledger_line_json
from kokudaka.models import Investment
from kokudaka.supporters.schemas import BalanceRead, MeRead, ProfileUpdate, balance_json
from kokudaka.volunteering.schemas import ContributionRead
from kokudaka.volunteering.service import list_my_contributions

router = APIRouter(route_class=UnitOfWorkRoute, tags=["me"])

Paging = Annotated[PageParams, Depends(page_params)]


@router.get("/v1/me", summary="The signed-in account")
def me(session: DbSession, user: CurrentUser) -> MeRead:
    """The signed-in account: id, email, display name, role and, for staff and farmers, their town
    or region, and the home prefecture if the account holder gave it. Any signed-in role may
    call it.
    """
    return MeRead.model_validate(account_of(session, user))


@router.patch("/v1/me", summary="Tell (or withdraw) my home prefecture")
def update_me(body: ProfileUpdate, session: DbSession, user: CurrentUser) -> MeRead:
    """Set the prefecture the caller lives in (a JIS X 0401 code), or null to withdraw it.

    Optional and never required. Towns count their relationship population (関係人口) by home
    prefecture in their reports, as numbers only: no town or farmer sees whose it is.
    """
    account = account_of(session, user)
    account.home_prefecture_code = body.home_prefecture_code
    session.flush()
    return MeRead.model_validate(account)


@router.get(
    "/v1/me/balance",
    summary="KOKU held, KOKU earned (石高) with its rank, and the balance's worth in rice",
    response_model=BalanceRead,
)
def my_balance(session: DbSession, user: CurrentUser) -> Response:
    """The caller's KOKU balance (what they hold now, integer 合 and KOKU text), the KOKU
    they earned (石高, net of reversals), their Edo-style rank (百姓 to 大名) and what the
    balance is worth in rice (grams; 1 合 ≈ 150 g). The rank follows KOKU earned, not the
    balance: when a work is harvested its boards become rice bills and the balance drops,
    the rank does not. Any signed-in role may call it.
    """
    # The account check, the balance and what was earned in one statement; the answer
    # encoded from it.
    check = take_account_check(session)
    held = holder_balance(session, ledger.holder_account_key(user.id), account_check=check)
    return json_answer(balance_json(held.balance_go, held.earned_go))


@router.get(
    "/v1/me/ledger",
    summary="Every posting on my account, newest first",
    response_model=Page[LedgerLine],
)
def my_ledger(
    session: DbSession, user: CurrentUser, paging: Paging, language: RequestLanguage
) -> Response:
    """Every posting on the caller's KOKU account, newest first and paged: issuances for investments
    and volunteer hours, their reversals, with amounts in 合 and each one's chain state.
    """
    # The account check and the page in one statement.
    check = take_account_check(session)
    lines, cursor = next_cursor(
        account_history(session, ledger.holder_account_key(user.id), paging, account_check=check),
        paging,
        lambda line: line.posting_id,
    )
    # Encoded from the rows (core/responses.py): the app scrolls this page all day.
    items = [ledger_line_json(line, language) for line in lines]
    return json_answer({"items": items, "next_cursor": cursor})


@router.get("/v1/me/investments", summary="My investments, newest first")
def my_investments(session: DbSession, user: CurrentUser, paging: Paging) -> Page[InvestmentRead]:
    """The caller's own investments, newest first and paged, with their status and the 合 issued or
    to be issued. Staff find the investments they handle at `GET /v1/investments`.
    """
    statement = select(Investment).where(Investment.supporter_id == user.id)
    rows, cursor = next_cursor(
        session.scalars(paginate(statement, Investment.id, paging)).all(),
        paging,
        lambda row: row.id,
    )
    return Page(items=[to_read(session, row) for row in rows], next_cursor=cursor)


@router.get("/v1/me/contributions", summary="My volunteer hours, newest first")
def my_contributions(
    session: DbSession, user: CurrentUser, paging: Paging
) -> Page[ContributionRead]:
    """The caller's own volunteer hours, newest first and paged, with their review status and the 合
    issued for approved ones.
    """
    return list_my_contributions(session, user, paging)
