"""Investments reserve room under the town's yearly cap when they are made.

A supporter is refused at once when the cap is full, a cancelled investment gives its
room back, and an investment that was accepted can always be confirmed, by the town or
by the payment webhook, whatever else is issued or however the policy changes.
"""

from __future__ import annotations

import uuid

import httpx
import pytest
from sqlalchemy import select

from kokudaka.core.errors import Conflict
from kokudaka.ledger.memos import Memo
from kokudaka.ledger.service import IssuanceCause, issue
from kokudaka.models import Investment, IssuanceKind, MunicipalityPolicy
from tests.investments.webhooks import paid_webhook
from tests.world import (
    PRICE_YEN_PER_GO,
    SEASON,
    VOLUNTEER_GO_PER_HOUR,
    World,
    assert_problem,
    count,
)

# 10 yen per go: 1,000 yen reserve 100 go.
assert PRICE_YEN_PER_GO == 10


def _set_cap(world: World, cap_go: int) -> None:
    with world.db.begin() as session:
        policy = session.scalar(
            select(MunicipalityPolicy).where(
                MunicipalityPolicy.municipality_id == world.a.municipality_id,
                MunicipalityPolicy.season == SEASON,
            )
        )
        assert policy is not None
        policy.yearly_cap_go = cap_go


def _invest(world: World, headers: dict[str, str], yen: int) -> httpx.Response:
    return world.client.post(
        "/v1/investments",
        json={"work_id": str(world.a.work_id), "amount_yen": yen},
        headers={**headers, "Idempotency-Key": uuid.uuid4().hex, "Accept-Language": "en"},
    )


def _confirm(world: World, investment_id: str) -> httpx.Response:
    return world.client.post(
        f"/v1/investments/{investment_id}/confirm",
        json={"payment_reference": f"furikomi-{investment_id}"},
        headers=world.a.admin.headers,
    )


def _policy(world: World) -> dict[str, object]:
    response = world.client.get(
        f"/v1/municipalities/{world.a.municipality_id}/policy", params={"season": SEASON}
    )
    assert response.status_code == 200, response.text
    body: dict[str, object] = response.json()
    return body


def _put_cap(world: World, cap_go: int) -> httpx.Response:
    return world.client.put(
        f"/v1/municipalities/{world.a.municipality_id}/policy",
        json={
            "season": SEASON,
            "price_yen_per_go": PRICE_YEN_PER_GO,
            "volunteer_go_per_hour": VOLUNTEER_GO_PER_HOUR,
            "yearly_cap_go": cap_go,
        },
        headers={**world.a.admin.headers, "Accept-Language": "en"},
    )


def test_an_investment_past_the_cap_is_refused_when_made_and_writes_nothing(
    world: World,
) -> None:
    _set_cap(world, 150)
    assert _invest(world, world.alice.headers, 1000).status_code == 201
    assert _policy(world)["reserved"] == {"go": 100, "koku": "0.100"}
    assert _policy(world)["remaining"] == {"go": 50, "koku": "0.050"}

    refused = _invest(world, world.bob.headers, 1000)
    assert_problem(refused, 409, "issuance_cap_exceeded")
    assert "50 go left" in refused.json()["detail"]
    assert count(world, Investment) == 1
    assert _policy(world)["reserved"] == {"go": 100, "koku": "0.100"}

    # What fits exactly is still accepted; then nothing more.
    assert _invest(world, world.bob.headers, 500).status_code == 201
    assert_problem(_invest(world, world.bob.headers, 10), 409, "issuance_cap_exceeded")
    assert _policy(world)["remaining"] == {"go": 0, "koku": "0.000"}


def test_cancelling_gives_the_reserved_room_back(world: World) -> None:
    _set_cap(world, 100)
    first = _invest(world, world.alice.headers, 1000)
    assert first.status_code == 201
    assert_problem(_invest(world, world.bob.headers, 1000), 409, "issuance_cap_exceeded")
    cancelled = world.client.post(
        f"/v1/investments/{first.json()['id']}/cancel", headers=world.alice.headers
    )
    assert cancelled.status_code == 200, cancelled.text
    assert _policy(world)["reserved"] == {"go": 0, "koku": "0.000"}
    assert _invest(world, world.bob.headers, 1000).status_code == 201


def test_reserved_investments_are_always_confirmable(world: World) -> None:
    """Other issuance cannot take a reservation's room; town and webhook both confirm."""
    _set_cap(world, 150)
    by_town = _invest(world, world.alice.headers, 1000).json()
    by_webhook = _invest(world, world.bob.headers, 500).json()

    # Volunteering (or anything not reserved) finds the cap full.
    with world.db() as session, pytest.raises(Conflict) as refused:
        issue(
            session,
            municipality_id=world.a.municipality_id,
            season=SEASON,
            recipient_id=world.alice.id,
            amount_go=1,
            cause=IssuanceCause(
                kind=IssuanceKind.contribution,
                idempotency_key=f"test:{uuid.uuid4()}",
                memo=Memo("investment", {"amount_yen": 0, "title": "hours"}),
            ),
            actor_id=None,
        )
    assert refused.value.code == "issuance_cap_exceeded"

    confirmed = _confirm(world, by_town["id"])
    assert confirmed.status_code == 200, confirmed.text
    paid = paid_webhook(world, by_webhook["id"], 500)
    assert paid.status_code == 200, paid.text
    assert paid.json()["issuance"]["amount"]["go"] == 50

    policy = _policy(world)
    assert policy["issued"] == {"go": 150, "koku": "0.150"}
    assert policy["reserved"] == {"go": 0, "koku": "0.000"}
    assert policy["remaining"] == {"go": 0, "koku": "0.000"}


def test_the_cap_cannot_go_below_what_is_issued_and_reserved(world: World) -> None:
    """Reservations stand: a town may lower its cap to stop new investments, but not
    below what it already accepted, so every accepted investment stays confirmable."""
    issued = _invest(world, world.alice.headers, 1000).json()
    assert _confirm(world, issued["id"]).status_code == 200
    pending = _invest(world, world.bob.headers, 2000).json()

    too_low = _put_cap(world, 299)
    assert_problem(too_low, 409, "cap_below_committed")
    assert "300 go" in too_low.json()["detail"]
    assert _policy(world)["yearly_cap"]["go"] == 10_000_000  # type: ignore[index]

    lowest = _put_cap(world, 300)
    assert lowest.status_code == 200, lowest.text
    assert lowest.json()["remaining"] == {"go": 0, "koku": "0.000"}
    assert_problem(_invest(world, world.alice.headers, 10), 409, "issuance_cap_exceeded")
    assert _confirm(world, pending["id"]).status_code == 200

    # Raising it again makes room again.
    assert _put_cap(world, 400).status_code == 200
    assert _invest(world, world.alice.headers, 1000).status_code == 201
