"""Races over real HTTP: over-subscription, the cap and retries under concurrency.

Run on both backends; on PostgreSQL they exercise the row locks, on SQLite the
``BEGIN IMMEDIATE`` write lock. The last tests, PostgreSQL only, interleave another
transaction at a chosen statement of one request: what a race does at its worst moment.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
from sqlalchemy import event, func, select
from sqlalchemy.orm import Session

from kokudaka.auth.caller import Caller
from kokudaka.core.errors import Conflict
from kokudaka.investments.schemas import InvestmentCreate
from kokudaka.investments.service import create_investment
from kokudaka.models import Investment, Issuance, MunicipalityPolicy, Role, Work
from tests.world import World


def _post(base_url: str, headers: dict[str, str], body: dict[str, object], key: str) -> int:
    with httpx.Client(base_url=base_url, timeout=60) as client:
        response = client.post(
            "/v1/investments", json=body, headers={**headers, "Idempotency-Key": key}
        )
        return response.status_code


def test_fifty_concurrent_investments_into_room_for_ten_issue_exactly_ten(
    world: World, base_url: str
) -> None:
    with world.db.begin() as session:
        work = session.get(Work, world.a.work_id)
        assert work is not None
        work.offer_yen = 10_000
    supporters = [world.new_supporter(f"s{i}") for i in range(50)]
    body = {"work_id": str(world.a.work_id), "amount_yen": 1000}
    with ThreadPoolExecutor(max_workers=50) as pool:
        statuses = list(
            pool.map(lambda p: _post(base_url, p.headers, body, uuid.uuid4().hex), supporters)
        )
    assert statuses.count(201) == 10, statuses
    assert statuses.count(409) == 40, statuses

    with world.db() as session:
        ids = session.scalars(select(Investment.id)).all()
    assert len(ids) == 10

    def confirm(investment_id: uuid.UUID) -> int:
        with httpx.Client(base_url=base_url, timeout=60) as client:
            return client.post(
                f"/v1/investments/{investment_id}/confirm",
                json={"payment_reference": f"p-{investment_id}"},
                headers=world.a.admin.headers,
            ).status_code

    # Confirm each one twice at once: every investment issues exactly once.
    with ThreadPoolExecutor(max_workers=20) as pool:
        confirmations = list(pool.map(confirm, [*ids, *ids]))
    assert confirmations.count(200) == 10, confirmations
    assert confirmations.count(409) == 10, confirmations
    with world.db() as session:
        assert session.scalar(select(func.count()).select_from(Issuance)) == 10
        assert session.scalar(select(func.sum(Issuance.amount_go))) == 10 * 100


def test_twenty_concurrent_retries_with_one_key_issue_once(world: World, base_url: str) -> None:
    body = {"work_id": str(world.a.work_id), "amount_yen": 3000}
    with ThreadPoolExecutor(max_workers=20) as pool:
        statuses = list(
            pool.map(lambda _: _post(base_url, world.alice.headers, body, "same-key"), range(20))
        )
    assert statuses == [201] * 20, statuses
    with world.db() as session:
        investment_ids = session.scalars(select(Investment.id)).all()
    assert len(investment_ids) == 1

    with ThreadPoolExecutor(max_workers=20) as pool:
        results = list(
            pool.map(
                lambda _: (
                    httpx.post(
                        f"{base_url}/v1/investments/{investment_ids[0]}/confirm",
                        json={"payment_reference": "once"},
                        headers=world.a.admin.headers,
                        timeout=60,
                    ).status_code
                ),
                range(20),
            )
        )
    assert results.count(200) == 1, results
    with world.db() as session:
        assert session.scalar(select(func.count()).select_from(Issuance)) == 1


def test_fifty_concurrent_investments_racing_for_the_last_cap_room_reserve_exactly_what_fits(
    world: World, base_url: str
) -> None:
    """The offer has room for all; the town's cap has room for seven more: exactly seven
    are accepted, and each of them is then confirmed."""
    with world.db.begin() as session:
        policy = session.scalar(
            select(MunicipalityPolicy).where(
                MunicipalityPolicy.municipality_id == world.a.municipality_id
            )
        )
        assert policy is not None
        policy.yearly_cap_go = 750  # room for seven investments of 100 go, not eight
    supporters = [world.new_supporter(f"s{i}") for i in range(50)]
    body = {"work_id": str(world.a.work_id), "amount_yen": 1000}
    with ThreadPoolExecutor(max_workers=50) as pool:
        statuses = list(
            pool.map(lambda p: _post(base_url, p.headers, body, uuid.uuid4().hex), supporters)
        )
    assert statuses.count(201) == 7, statuses
    assert statuses.count(409) == 43, statuses

    with world.db() as session:
        ids = session.scalars(select(Investment.id)).all()
        policy = session.scalar(
            select(MunicipalityPolicy).where(
                MunicipalityPolicy.municipality_id == world.a.municipality_id
            )
        )
        assert policy is not None
        assert (policy.issued_go, policy.reserved_go) == (0, 700)
    assert len(ids) == 7

    def confirm(investment_id: uuid.UUID) -> int:
        with httpx.Client(base_url=base_url, timeout=60) as client:
            return client.post(
                f"/v1/investments/{investment_id}/confirm",
                json={"payment_reference": f"p-{investment_id}"},
                headers=world.a.admin.headers,
            ).status_code

    with ThreadPoolExecutor(max_workers=7) as pool:
        assert list(pool.map(confirm, ids)) == [200] * 7
    with world.db() as session:
        assert session.scalar(select(func.sum(Issuance.amount_go))) == 700
        policy = session.scalar(
            select(MunicipalityPolicy).where(
                MunicipalityPolicy.municipality_id == world.a.municipality_id
            )
        )
        assert policy is not None
        assert (policy.issued_go, policy.reserved_go) == (700, 0)


def test_investing_and_confirming_side_by_side_never_deadlock(world: World, base_url: str) -> None:
    """Supporters invest in a work while its town confirms earlier investments in it.

    Investing locks the work, then the town's policy row; confirming locks the policy
    row, then inserts an issuance whose foreign key to the work takes a key-share lock
    on it. On PostgreSQL a ``FOR UPDATE`` on the work conflicts with that key-share
    lock, and the two orders deadlocked (answered 503); ``FOR NO KEY UPDATE`` does not.
    """
    supporters = [world.new_supporter(f"pair{i}") for i in range(8)]
    body = {"work_id": str(world.a.work_id), "amount_yen": 1000}

    def invest_then_confirm(person: object) -> list[int]:
        statuses = []
        with httpx.Client(base_url=base_url, timeout=60) as client:
            for _ in range(12):
                created = client.post(
                    "/v1/investments",
                    json=body,
                    headers={**person.headers, "Idempotency-Key": uuid.uuid4().hex},  # type: ignore[attr-defined]
                )
                statuses.append(created.status_code)
                if created.status_code != 201:
                    continue
                confirmed = client.post(
                    f"/v1/investments/{created.json()['id']}/confirm",
                    json={"payment_reference": uuid.uuid4().hex},
                    headers=world.a.admin.headers,
                )
                statuses.append(confirmed.status_code)
        return statuses

    with ThreadPoolExecutor(max_workers=len(supporters)) as pool:
        statuses = [s for batch in pool.map(invest_then_confirm, supporters) for s in batch]
    assert set(statuses) == {200, 201}, sorted(set(statuses))
    with world.db() as session:
        issued = session.scalar(select(func.count()).select_from(Issuance))
    assert issued == len(supporters) * 12


def _interleaved(
    world: World, amount_yen: int, between: list[Callable[[Session], None]]
) -> tuple[int, dict[str, object]] | Conflict:
    """``create_investment`` for a new supporter, with ``between[i]`` committed in a session of
    its own just before the request's ``i``-th statement on the work after its first read:
    another request changing the work after this one read it."""
    supporter = world.new_supporter(f"late-{uuid.uuid4().hex[:6]}")
    caller = Caller(supporter.id, Role.supporter, None, None)
    body = InvestmentCreate(work_id=world.a.work_id, amount_yen=amount_yen)
    pending = list(between)
    reads = 0

    def before(conn: object, cursor: object, statement: str, *args: object) -> None:
        nonlocal reads
        if "works" not in statement:
            return
        reads += 1
        if reads > 1 and pending:
            with world.db.begin() as other:
                pending.pop(0)(other)

    with world.db() as session:
        event.listen(session.connection(), "before_cursor_execute", before)
        try:
            status, answer, _ = create_investment(session, caller, body, uuid.uuid4().hex)
            session.commit()
            return status, answer
        except Conflict as refusal:
            session.rollback()
            return refusal


def _set_work(work_id: uuid.UUID, **values: object) -> Callable[[Session], None]:
    def change(session: Session) -> None:
        work = session.get(Work, work_id)
        assert work is not None
        for name, value in values.items():
            setattr(work, name, value)

    return change


@pytest.fixture
def postgres_only(is_postgres: bool) -> None:
    if not is_postgres:
        pytest.skip("SQLite's write lock keeps other writers out between the read and the write")


@pytest.mark.usefixtures("postgres_only")
def test_a_work_filled_or_closed_after_it_was_read_refuses_with_what_it_is_now(
    world: World,
) -> None:
    with world.db.begin() as session:
        work = session.get(Work, world.a.work_id)
        assert work is not None
        work.offer_yen, work.subscribed_yen = 10_000, 0

    full = _interleaved(world, 1000, [_set_work(world.a.work_id, subscribed_yen=9_500)])
    assert isinstance(full, Conflict), full
    assert full.code == "work_oversubscribed"
    assert full.params == {"remaining_yen": 500}

    closed = _interleaved(world, 100, [_set_work(world.a.work_id, is_open=False)])
    assert isinstance(closed, Conflict), closed
    assert closed.code == "work_closed"

    with world.db() as session:
        work = session.get(Work, world.a.work_id)
        assert work is not None
        assert work.subscribed_yen == 9_500
        assert session.scalar(select(func.count()).select_from(Investment)) == 0
        policy = session.scalars(
            select(MunicipalityPolicy).where(
                MunicipalityPolicy.municipality_id == world.a.municipality_id
            )
        ).all()
        assert all(p.reserved_go == 0 for p in policy), [p.reserved_go for p in policy]


@pytest.mark.usefixtures("postgres_only")
def test_room_made_again_before_the_refusal_is_read_subscribes(world: World) -> None:
    with world.db.begin() as session:
        work = session.get(Work, world.a.work_id)
        assert work is not None
        work.offer_yen, work.subscribed_yen = 10_000, 0
    # Filled after the first read, then a cancellation frees room before the second.
    answer = _interleaved(
        world,
        1000,
        [
            _set_work(world.a.work_id, subscribed_yen=9_500),
            _set_work(world.a.work_id, subscribed_yen=8_000),
        ],
    )
    assert not isinstance(answer, Conflict), answer
    assert answer[0] == 201
    with world.db() as session:
        work = session.get(Work, world.a.work_id)
        assert work is not None
        assert work.subscribed_yen == 9_000
