"""``GET /v1/me/ledger`` and ``GET /v1/works``: a page is one statement.

The supporter's app reads these most; each page used to cost several statements (the
postings, then their issuances, then their mints; the works, then their investments).
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import Engine, event

from tests.world import World, assert_problem

_TABLE = re.compile(r"\b(?:FROM|JOIN)\s+\"?(\w+)", re.IGNORECASE)


@pytest.fixture
def queries() -> Iterator[list[str]]:
    """Every SELECT the service runs (on any engine) while the test reads."""
    seen: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if statement.lstrip().upper().startswith("SELECT"):
            seen.append(statement)

    event.listen(Engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(Engine, "before_cursor_execute", record)


def _reading(queries: list[str], table: str) -> list[str]:
    return [q for q in queries if table in _TABLE.findall(q)]


def test_a_ledger_page_is_one_statement_with_issuances_reversals_and_mints(
    world: World, queries: list[str]
) -> None:
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
        ).json()
    issuance = confirmed["issuance"]
    reversal = client.post(
        f"/v1/ledger/entries/{issuance['entry_id']}/reverse",
        json={"reason": "charged back"},
        headers=world.a.admin.headers,
    ).json()

    queries.clear()
    page = client.get("/v1/me/ledger", params={"limit": 2}, headers=world.alice.headers)
    assert page.status_code == 200, page.text
    assert len(_reading(queries, "postings")) == 1
    assert _reading(queries, "issuances") == _reading(queries, "postings")
    assert _reading(queries, "chain_operations") == _reading(queries, "postings")

    newest, second = page.json()["items"]
    # The reversal names the issuance it undid; its burn has a chain state of its own.
    assert newest["entry_id"] == reversal["id"]
    assert newest["entry_kind"] == "reversal"
    assert newest["amount"]["go"] == -issuance["amount"]["go"]
    assert newest["issuance_id"] == issuance["id"]
    assert newest["issuance_kind"] == "investment"
    assert newest["chain"]["state"] == "pending"
    assert newest["chain"]["reference"] != issuance["chain"]["reference"]
    assert second["entry_id"] == issuance["entry_id"]
    assert second["issuance_id"] == issuance["id"]
    assert second["chain"] == issuance["chain"]

    rest = client.get(
        "/v1/me/ledger",
        params={"limit": 2, "cursor": page.json()["next_cursor"]},
        headers=world.alice.headers,
    ).json()
    assert [line["amount"]["go"] for line in rest["items"]] == [100]
    assert rest["next_cursor"] is None


def test_a_page_of_works_is_one_statement(world: World, queries: list[str]) -> None:
    queries.clear()
    page = world.client.get("/v1/works", params={"limit": 20, "season": 2026})
    assert page.status_code == 200, page.text
    assert len(page.json()["items"]) == 2
    assert len(_reading(queries, "works")) == 1
    assert _reading(queries, "investments") == []


def test_a_balance_with_its_account_check_is_one_statement(
    world: World, queries: list[str]
) -> None:
    newcomer = world.new_supporter("newcomer")  # no holder account yet
    for person in (world.alice, newcomer):
        queries.clear()
        balance = world.client.get("/v1/me/balance", headers=person.headers)
        assert balance.status_code == 200, balance.text
        assert len(queries) == 1, queries
        assert "users" in _TABLE.findall(queries[0])
    assert balance.json()["balance"]["go"] == 0


def test_a_ledger_page_with_its_account_check_is_one_statement(
    world: World, queries: list[str]
) -> None:
    for cursor in (None, "AAAAAAAAAAAAAAAAAAAAAA"[:21] + "w"):
        queries.clear()
        params = {"limit": 20} if cursor is None else {"limit": 20, "cursor": cursor}
        page = world.client.get("/v1/me/ledger", params=params, headers=world.alice.headers)
        assert page.status_code == 200, page.text
        # One SELECT, the caller's account check folded in (one round trip on PostgreSQL).
        assert len(queries) == 1, queries
        assert "users" in _TABLE.findall(queries[0])


def test_the_folded_checks_refuse_a_disabled_or_revoked_account(world: World) -> None:
    client = world.client
    admin = world.platform_admin.headers
    newcomer = world.new_supporter("newcomer")
    assert client.get("/v1/me/ledger", headers=newcomer.headers).json()["items"] == []
    assert client.get("/v1/me/ledger", headers=world.alice.headers).status_code == 200
    assert client.post(f"/v1/admin/users/{world.alice.id}/disable", headers=admin).is_success
    assert client.post(f"/v1/admin/users/{newcomer.id}/disable", headers=admin).is_success
    for path in ("/v1/me/ledger", "/v1/me/balance"):
        for person in (world.alice, newcomer):  # with lines and without
            assert_problem(client.get(path, headers=person.headers), 401, "invalid_token")
    # Enabled again: the tokens issued before stay revoked (the token version moved on).
    assert client.post(f"/v1/admin/users/{world.alice.id}/enable", headers=admin).is_success
    for path in ("/v1/me/ledger", "/v1/me/balance"):
        assert_problem(client.get(path, headers=world.alice.headers), 401, "invalid_token")
