"""Acting as staff through the API, and reading the staff audit log from the database."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
from sqlalchemy import select

from kokudaka.audit.staff_log import StaffLogRow, log_rows
from tests.world import PASSWORD, Person, World


def staff_log(world: World) -> list[StaffLogRow]:
    """Every row of the log, in sequence order."""
    with world.db() as session:
        rows = session.execute(select(*log_rows.c).order_by(log_rows.c.sequence))
        return [StaffLogRow(**row._mapping) for row in rows]


def invest(world: World, supporter: Person, yen: int = 1_000) -> str:
    response = world.client.post(
        "/v1/investments",
        json={"work_id": str(world.a.work_id), "amount_yen": yen},
        headers={**supporter.headers, "Idempotency-Key": uuid.uuid4().hex},
    )
    assert response.status_code == 201, response.text
    investment_id: str = response.json()["id"]
    return investment_id


def confirm(world: World, admin: Person, investment_id: str) -> httpx.Response:
    return world.client.post(
        f"/v1/investments/{investment_id}/confirm",
        json={"payment_reference": f"furikomi-{investment_id[:8]}"},
        headers=admin.headers,
    )


def confirmed_issuance(world: World, supporter: Person) -> dict[str, Any]:
    """A confirmed investment's issuance (two staff rows: none; one for the confirm)."""
    response = confirm(world, world.a.admin, invest(world, supporter))
    assert response.status_code == 200, response.text
    issuance: dict[str, Any] = response.json()["issuance"]
    return issuance


def staff_body(role: str, **fields: Any) -> dict[str, Any]:
    return {
        "email": f"{role}-{uuid.uuid4().hex[:8]}@example.jp",
        "password": PASSWORD,
        "display_name": role,
        "role": role,
        **fields,
    }
