"""The hot read routes encode their answers from their rows (``core/responses.py``):
each answer must be, byte for byte, what the route's declared response model gives.

Every answer is parsed with the model the OpenAPI document declares for the route and
encoded again: a missing, extra, renamed or differently formatted field changes the
bytes.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from fastapi.routing import APIRoute
from pydantic import TypeAdapter
from pydantic_core import to_json

from kokudaka.core.responses import json_answer
from kokudaka.core.schemas import Amount
from kokudaka.main import create_app
from kokudaka.models import ChainState, EntryKind
from kokudaka.supporters.schemas import GRAMS_PER_GO, RANKS, BalanceRead, balance_json, rank_for
from tests.world import World


def _declared_model(app: FastAPI, path: str) -> Any:
    """The response model the route declares (and the OpenAPI document shows)."""
    route = next(
        r
        for r in app.routes
        if isinstance(r, APIRoute) and r.path_format == path and "GET" in r.methods
    )
    assert route.response_model is not None, path
    return route.response_model


def assert_encoded_as_declared(world: World, path: str, response: httpx.Response) -> Any:
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/json"
    adapter: TypeAdapter[Any] = TypeAdapter(_declared_model(create_app(world.settings), path))
    assert adapter.dump_json(adapter.validate_json(response.content)) == response.content
    return response.json()


def _history(world: World) -> None:
    """Two confirmed investments, one reversed with a note: lines of every kind."""
    client = world.client
    for yen in (1_000, 2_000):
        created = client.post(
            "/v1/investments",
            json={"work_id": str(world.a.work_id), "amount_yen": yen},
            headers={**world.alice.headers, "Idempotency-Key": uuid.uuid4().hex},
        ).json()
        confirmed = client.post(
            f"/v1/investments/{created['id']}/confirm",
            json={"payment_reference": f"p{yen}"},
            headers=world.a.admin.headers,
        )
        assert confirmed.status_code == 200, confirmed.text
    reversed_ = client.post(
        f"/v1/ledger/entries/{confirmed.json()['issuance']['entry_id']}/reverse",
        json={"reason": "振込の取消\n二重"},
        headers=world.a.admin.headers,
    )
    assert reversed_.status_code == 201, reversed_.text


def test_a_ledger_page_is_encoded_as_its_declared_model(world: World) -> None:
    _history(world)
    path = "/v1/me/ledger"
    seen: list[dict[str, Any]] = []
    for language in ("ja", "en"):
        cursor = None
        while True:
            params: dict[str, Any] = {"limit": 1}
            if cursor is not None:
                params["cursor"] = cursor
            page = assert_encoded_as_declared(
                world,
                path,
                world.client.get(
                    path,
                    params=params,
                    headers={**world.alice.headers, "Accept-Language": language},
                ),
            )
            seen.extend(page["items"])
            cursor = page["next_cursor"]
            if cursor is None:
                break
    kinds = {(line["entry_kind"], line["issuance_kind"]) for line in seen}
    assert ("reversal", "investment") in kinds
    assert ("issuance", "investment") in kinds
    assert all(line["chain"] is not None for line in seen if line["issuance_id"])
    assert len(seen) == 2 * 3  # three lines, one a page, in each language

    empty = world.new_supporter("newcomer")
    page = assert_encoded_as_declared(world, path, world.client.get(path, headers=empty.headers))
    assert page == {"items": [], "next_cursor": None}


def test_a_balance_is_encoded_as_its_declared_model(world: World) -> None:
    path = "/v1/me/balance"
    _history(world)
    balance = assert_encoded_as_declared(
        world, path, world.client.get(path, headers=world.alice.headers)
    )
    assert balance["balance"]["go"] == 100  # 300 issued, 200 reversed
    newcomer = world.new_supporter("newcomer")
    balance = assert_encoded_as_declared(
        world, path, world.client.get(path, headers=newcomer.headers)
    )
    assert balance["balance"] == {"go": 0, "koku": "0.000"}


@pytest.mark.parametrize(
    "go", sorted({0, 1, -5, *(t + d for t, _, _ in RANKS for d in (-1, 0, 1)), 10**12})
)
def test_every_rank_is_encoded_as_the_model_would(go: int) -> None:
    held = go // 3  # less is held than was earned once boards become bills
    model = BalanceRead(
        balance=Amount.of(held),
        earned=Amount.of(go),
        rank=rank_for(go),
        rice_grams=held * GRAMS_PER_GO,
    )
    assert json_answer(balance_json(held, go)).body == model.model_dump_json().encode()


@pytest.mark.parametrize(
    "value",
    [
        datetime(2026, 5, 10, 9, 0, tzinfo=UTC),
        datetime(2026, 5, 10, 9, 0, 0, 123456, tzinfo=UTC),
        datetime(2026, 5, 10, 18, 0, tzinfo=timezone(timedelta(hours=9))),
        uuid.UUID("01a21f78-fe85-7000-89ab-aead29e9ae75"),
        EntryKind.reversal,
        ChainState.confirmed,
        '田植え "1時間"\n\t\u2028 🌾 \\',
        2**63 - 1,
        -(2**63),
        2**70,  # past orjson's 64 bits: Pydantic's encoder takes it
        Decimal("1.5"),  # likewise
        None,
        True,
        {"nested": [1, {"go": 0, "koku": "0.000"}]},
    ],
    ids=repr,
)
def test_an_answer_is_encoded_as_pydantic_would(value: Any) -> None:
    # json_answer's encoder must not change a byte of what the declared models give.
    content = {"items": [value], "next_cursor": None}
    assert json_answer(content).body == to_json(content)
