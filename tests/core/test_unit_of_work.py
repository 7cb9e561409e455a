"""Each request that uses the database is one unit of work (``UnitOfWorkRoute``)."""

from __future__ import annotations

import uuid

import pytest
from fastapi import APIRouter

from kokudaka.core.db import DbSession, UnitOfWorkRoute, require_unit_of_work
from kokudaka.models import Investment
from tests.world import World, assert_problem, count


def test_a_route_using_the_session_must_be_a_unit_of_work() -> None:
    # Nothing but UnitOfWorkRoute commits a request's session: any other route class
    # would silently lose its writes, so the app refuses to be built with one.
    plain = APIRouter()

    @plain.get("/uses-session")
    def uses_session(session: DbSession) -> None:
        """Would never commit."""

    with pytest.raises(RuntimeError, match="/uses-session"):
        require_unit_of_work(plain.routes)

    unit = APIRouter(route_class=UnitOfWorkRoute)
    unit.get("/uses-session")(uses_session)
    require_unit_of_work(unit.routes)


def test_refused_requests_give_back_their_admission(world: World) -> None:
    # On SQLite one request is admitted at a time: a request refused before its
    # endpoint ran (bad body, bad token, wrong role) must not keep the admission,
    # or every later request would wait for ever.
    work = {"work_id": str(world.a.work_id), "amount_yen": 1000}
    refused = [
        world.client.post(
            "/v1/investments",
            json={"amount_yen": "lots"},
            headers={**world.alice.headers, "Idempotency-Key": uuid.uuid4().hex},
        ),
        world.client.post("/v1/investments", json=work, headers={"Idempotency-Key": "k"}),
        world.client.post(
            "/v1/investments",
            json=work,
            headers={**world.a.admin.headers, "Idempotency-Key": uuid.uuid4().hex},
        ),
        world.client.post(
            "/v1/investments",
            json={**work, "work_id": str(uuid.uuid4())},
            headers={**world.alice.headers, "Idempotency-Key": uuid.uuid4().hex},
        ),
    ]
    assert [r.status_code for r in refused] == [422, 401, 403, 404]
    assert count(world, Investment) == 0

    accepted = world.client.post(
        "/v1/investments",
        json=work,
        headers={**world.alice.headers, "Idempotency-Key": uuid.uuid4().hex},
        timeout=10,
    )
    assert accepted.status_code == 201, accepted.text
    assert count(world, Investment) == 1


def test_an_endpoint_error_rolls_back_everything_it_wrote(world: World) -> None:
    # The idempotency key is reserved before the work is found missing: the 404 must
    # leave no reservation behind, so the same key can be used for a real request.
    key = uuid.uuid4().hex
    missing = world.client.post(
        "/v1/investments",
        json={"work_id": str(uuid.uuid4()), "amount_yen": 1000},
        headers={**world.alice.headers, "Idempotency-Key": key},
    )
    assert_problem(missing, 404, "not_found")
    retried = world.client.post(
        "/v1/investments",
        json={"work_id": str(world.a.work_id), "amount_yen": 1000},
        headers={**world.alice.headers, "Idempotency-Key": key},
    )
    assert retried.status_code == 201, retried.text
