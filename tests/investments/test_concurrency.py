"""Races over real HTTP: over-subscription, the cap and retries under concurrency.

Run on both backends; on PostgreSQL they exercise the row locks, on SQLite the
``BEGIN IMMEDIATE`` write lock.
"""

from __future__ import annotations

import uuid
from concurrent.futures import ThreadPoolExecutor

import httpx
from sqlalchemy import func, select

from kokudaka.models import Investment, Issuance, MunicipalityPolicy, Work
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
