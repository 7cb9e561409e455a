"""Investing, confirming payment (by a town or a signed webhook), cancelling."""

from __future__ import annotations

import time
import uuid

import httpx
from sqlalchemy import func, select

from kokudaka.models import (
    ChainOperation,
    IdempotencyRecord,
    Investment,
    Issuance,
    JournalEntry,
    Posting,
    Work,
)
from tests.investments.webhooks import signed_webhook
from tests.world import PRICE_YEN_PER_GO, World, count


def invest(
    world: World,
    person_headers: dict[str, str],
    work_id: uuid.UUID,
    yen: int,
    key: str | None = None,
) -> httpx.Response:
    return world.client.post(
        "/v1/investments",
        json={"work_id": str(work_id), "amount_yen": yen},
        headers={**person_headers, "Idempotency-Key": key or uuid.uuid4().hex},
    )


def test_invest_confirm_issues_floor_of_yen_over_price(world: World) -> None:
    created = invest(world, world.alice.headers, world.a.work_id, 12_345)
    assert created.status_code == 201, created.text
    body = created.json()
    assert body["status"] == "pending_payment"
    assert body["amount"] == {"go": 12_345 // PRICE_YEN_PER_GO, "koku": "1.234"}
    assert body["remainder_yen"] == 5
    assert body["issuance"] is None

    confirmed = world.client.post(
        f"/v1/investments/{body['id']}/confirm",
        json={"payment_reference": "furikomi-1"},
        headers=world.a.admin.headers,
    )
    assert confirmed.status_code == 200, confirmed.text
    issuance = confirmed.json()["issuance"]
    assert issuance["amount"]["go"] == 1234
    assert issuance["price_yen_per_go"] == PRICE_YEN_PER_GO
    assert issuance["chain"]["state"] == "pending"

    balance = world.client.get("/v1/me/balance", headers=world.alice.headers).json()
    assert balance["balance"] == {"go": 1234, "koku": "1.234"}
    ledger = world.client.get("/v1/me/ledger", headers=world.alice.headers).json()
    assert [line["amount"]["go"] for line in ledger["items"]] == [1234]
    assert ledger["items"][0]["chain"]["state"] == "pending"

    with world.db() as session:
        entry = session.scalar(select(JournalEntry))
        assert entry is not None
        assert entry.idempotency_key == f"investment:{body['id']}"
        total = session.scalar(
            select(func.sum(Posting.amount_go)).where(Posting.entry_id == entry.id)
        )
        assert total == 0
        assert session.scalar(select(func.count()).select_from(ChainOperation)) == 1

    again = world.client.post(
        f"/v1/investments/{body['id']}/confirm",
        json={"payment_reference": "furikomi-1"},
        headers=world.a.admin.headers,
    )
    assert again.status_code == 409
    assert again.json()["code"] == "investment_not_pending"
    assert count(world, Issuance) == 1


def test_answers_are_what_was_stored(world: World) -> None:
    """Create and confirm answer from the rows as they wrote them, not read back: the
    same investment read from the database must look exactly the same."""
    created = invest(world, world.alice.headers, world.a.work_id, 12_345)
    assert created.status_code == 201, created.text
    path = f"/v1/investments/{created.json()['id']}"
    assert world.client.get(path, headers=world.alice.headers).json() == created.json()

    confirmed = world.client.post(
        f"{path}/confirm", json={"payment_reference": "furikomi-1"}, headers=world.a.admin.headers
    )
    assert confirmed.status_code == 200, confirmed.text
    stored = world.client.get(path, headers=world.alice.headers).json()
    assert stored == confirmed.json()
    assert stored["status"] == "confirmed"
    assert stored["payment_reference"] == "furikomi-1"
    assert stored["issuance"]["investment_id"] == stored["id"]


def test_same_idempotency_key_replays_and_different_body_is_refused(world: World) -> None:
    first = invest(world, world.alice.headers, world.a.work_id, 5000, key="k-1")
    retry = invest(world, world.alice.headers, world.a.work_id, 5000, key="k-1")
    assert first.status_code == retry.status_code == 201
    assert retry.json() == first.json()
    assert retry.headers["Idempotent-Replayed"] == "true"
    assert count(world, Investment) == 1

    other = invest(world, world.alice.headers, world.a.work_id, 6000, key="k-1")
    assert other.status_code == 422
    assert other.json()["code"] == "idempotency_key_reused"
    # The same key belongs to one supporter only: another supporter's key is theirs.
    bobs = invest(world, world.bob.headers, world.a.work_id, 5000, key="k-1")
    assert bobs.status_code == 201
    assert bobs.json()["id"] != first.json()["id"]
    assert count(world, Investment) == 2


def test_missing_idempotency_key_is_refused_as_a_missing_required_header(world: World) -> None:
    response = world.client.post(
        "/v1/investments",
        json={"work_id": str(world.a.work_id), "amount_yen": 100},
        headers=world.alice.headers,
    )
    assert response.status_code == 422
    assert response.json()["code"] == "validation_error"
    assert response.json()["errors"][0]["loc"] == ["header", "Idempotency-Key"]
    assert count(world, Investment) == 0


def test_bad_input_is_4xx_in_problem_shape_and_writes_nothing(world: World) -> None:
    cases: list[tuple[object, int, str]] = [
        ({"work_id": str(world.a.work_id), "amount_yen": -1}, 422, "validation_error"),
        ({"work_id": str(world.a.work_id), "amount_yen": 0}, 422, "validation_error"),
        ({"work_id": str(world.a.work_id), "amount_yen": 10**30}, 422, "validation_error"),
        ({"work_id": str(world.a.work_id), "amount_yen": "100"}, 422, "validation_error"),
        ({"work_id": str(world.a.work_id), "amount_yen": 1.5}, 422, "validation_error"),
        ({"work_id": "not-a-uuid", "amount_yen": 100}, 422, "validation_error"),
        ({"work_id": str(uuid.uuid4()), "amount_yen": 100}, 404, "not_found"),
        ({"work_id": str(world.a.work_id), "amount_yen": 5}, 409, "investment_too_small"),
        ({"work_id": str(world.a.work_id), "amount_yen": 10**11}, 409, "work_oversubscribed"),
        (
            {"work_id": str(world.a.work_id), "amount_yen": 100, "status": "confirmed"},
            422,
            "validation_error",
        ),
        ([1, 2, 3], 422, "validation_error"),
    ]
    for body, status, code in cases:
        response = world.client.post(
            "/v1/investments",
            json=body,
            headers={**world.alice.headers, "Idempotency-Key": uuid.uuid4().hex},
        )
        assert response.status_code == status, (body, response.text)
        assert response.headers["content-type"] == "application/problem+json"
        assert response.json()["code"] == code, (body, response.json())
    garbage = world.client.post(
        "/v1/investments",
        content=b"{not json",
        headers={
            **world.alice.headers,
            "Idempotency-Key": "g",
            "Content-Type": "application/json",
        },
    )
    assert garbage.status_code == 422
    assert count(world, Investment) == 0
    assert count(world, IdempotencyRecord) == 0


def test_closed_work_and_missing_policy_are_409(world: World) -> None:
    with world.db.begin() as session:
        work = session.get(Work, world.a.work_id)
        assert work is not None
        work.is_open = False
        other = session.get(Work, world.b.work_id)
        assert other is not None
        other.season = 2031
    closed = invest(world, world.alice.headers, world.a.work_id, 100)
    assert closed.status_code == 409
    assert closed.json()["code"] == "work_closed"
    no_policy = invest(world, world.alice.headers, world.b.work_id, 100)
    assert no_policy.status_code == 409
    assert no_policy.json()["code"] == "policy_missing"
    assert count(world, Investment) == 0


def test_over_subscription_is_refused_and_cancel_frees_room(world: World) -> None:
    with world.db.begin() as session:
        work = session.get(Work, world.a.work_id)
        assert work is not None
        work.offer_yen = 1000
    first = invest(world, world.alice.headers, world.a.work_id, 600)
    assert first.status_code == 201
    second = invest(world, world.bob.headers, world.a.work_id, 600)
    assert second.status_code == 409
    assert second.json()["code"] == "work_oversubscribed"
    cancelled = world.client.post(
        f"/v1/investments/{first.json()['id']}/cancel", headers=world.alice.headers
    )
    assert cancelled.status_code == 200
    assert cancelled.json()["status"] == "cancelled"
    assert invest(world, world.bob.headers, world.a.work_id, 1000).status_code == 201
    # A cancelled investment cannot be confirmed.
    refused = world.client.post(
        f"/v1/investments/{first.json()['id']}/confirm",
        json={"payment_reference": "x"},
        headers=world.a.admin.headers,
    )
    assert refused.status_code == 409


def test_scope_other_supporters_and_towns_cannot_see_or_act(world: World) -> None:
    mine = invest(world, world.alice.headers, world.a.work_id, 1000).json()
    url = f"/v1/investments/{mine['id']}"
    assert world.client.get(url).status_code == 401
    assert world.client.get(url, headers=world.bob.headers).status_code == 404
    assert world.client.get(url, headers=world.b.admin.headers).status_code == 404
    assert world.client.get(url, headers=world.other_region_auditor.headers).status_code == 404
    assert world.client.get(url, headers=world.auditor.headers).status_code == 200
    assert world.client.get(url, headers=world.a.admin.headers).status_code == 200
    confirm = {"payment_reference": "x"}
    assert world.client.post(f"{url}/confirm", json=confirm).status_code == 401
    assert (
        world.client.post(f"{url}/confirm", json=confirm, headers=world.b.admin.headers).status_code
        == 404
    )
    assert (
        world.client.post(f"{url}/confirm", json=confirm, headers=world.alice.headers).status_code
        == 403
    )
    assert world.client.post(f"{url}/cancel", headers=world.bob.headers).status_code == 404
    assert world.client.post(f"{url}/cancel").status_code == 401
    # Farmers and staff do not invest.
    assert invest(world, world.a.farmer.headers, world.a.work_id, 1000).status_code == 403
    assert count(world, Issuance) == 0


def test_signed_webhook_confirms_once_and_refuses_replay_and_forgery(world: World) -> None:
    investment = invest(world, world.alice.headers, world.a.work_id, 2000).json()
    event = {
        "event_id": "evt_1",
        "investment_id": investment["id"],
        "amount_yen": 2000,
        "payment_reference": "ch_1",
    }
    forged = signed_webhook(world, event, secret="not-the-secret")
    assert forged.status_code == 401
    assert forged.json()["code"] == "invalid_signature"
    stale = signed_webhook(world, event, timestamp=int(time.time()) - 3600)
    assert stale.status_code == 400
    assert stale.json()["code"] == "webhook_stale"
    wrong_amount = signed_webhook(world, {**event, "amount_yen": 1999})
    assert wrong_amount.status_code == 422
    assert wrong_amount.json()["code"] == "payment_amount_mismatch"
    assert count(world, Issuance) == 0

    ok = signed_webhook(world, event)
    assert ok.status_code == 200, ok.text
    assert ok.json()["status"] == "confirmed"
    assert ok.json()["issuance"]["amount"]["go"] == 200
    replay = signed_webhook(world, event)
    assert replay.status_code == 409
    assert replay.json()["code"] == "webhook_replayed"
    second_event = signed_webhook(world, {**event, "event_id": "evt_2"})
    assert second_event.status_code == 409
    assert second_event.json()["code"] == "investment_not_pending"
    unknown = signed_webhook(
        world, {**event, "event_id": "evt_3", "investment_id": str(uuid.uuid4())}
    )
    assert unknown.status_code == 404
    unsigned = world.client.post("/v1/payments/webhook", json=event)
    assert unsigned.status_code == 401
    assert count(world, Issuance) == 1


def test_reversal_by_town_admin_only_with_reason(world: World) -> None:
    investment = invest(world, world.alice.headers, world.a.work_id, 1000).json()
    confirmed = world.client.post(
        f"/v1/investments/{investment['id']}/confirm",
        json={"payment_reference": "p"},
        headers=world.a.admin.headers,
    ).json()
    entry_id = confirmed["issuance"]["entry_id"]
    url = f"/v1/ledger/entries/{entry_id}/reverse"
    assert world.client.post(url, json={"reason": "x"}).status_code == 401
    assert (
        world.client.post(url, json={"reason": "x"}, headers=world.alice.headers).status_code == 403
    )
    assert (
        world.client.post(url, json={"reason": "x"}, headers=world.b.admin.headers).status_code
        == 404
    )
    assert (
        world.client.post(url, json={"reason": ""}, headers=world.a.admin.headers).status_code
        == 422
    )
    reversed_ = world.client.post(
        url, json={"reason": "charged back"}, headers=world.a.admin.headers
    )
    assert reversed_.status_code == 201, reversed_.text
    assert reversed_.json()["kind"] == "reversal"
    assert reversed_.json()["chain"]["state"] == "pending"
    twice = world.client.post(url, json={"reason": "again"}, headers=world.a.admin.headers)
    assert twice.status_code == 409
    assert twice.json()["code"] == "entry_already_reversed"
    reversal_of_reversal = world.client.post(
        f"/v1/ledger/entries/{reversed_.json()['id']}/reverse",
        json={"reason": "no"},
        headers=world.a.admin.headers,
    )
    assert reversal_of_reversal.status_code == 409
    assert reversal_of_reversal.json()["code"] == "entry_not_reversible"
    balance = world.client.get("/v1/me/balance", headers=world.alice.headers).json()
    assert balance["balance"]["go"] == 0
    lines = world.client.get("/v1/me/ledger", headers=world.alice.headers).json()["items"]
    assert [line["amount"]["go"] for line in lines] == [-100, 100]
