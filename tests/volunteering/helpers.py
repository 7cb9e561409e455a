"""Acting out volunteering through the API, and counting what the database holds."""

from __future__ import annotations

from typing import Any

import httpx
from sqlalchemy import func, select

from kokudaka.models import (
    Activity,
    ChainOperation,
    Contribution,
    Issuance,
    JournalEntry,
    Posting,
)
from tests.world import SEASON, Person, World

ACTIVITY_ON = f"{SEASON}-06-14"


def activity_body(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "title": "草取り (weeding)",
        "description": "Weeding the Koshihikari paddies by hand.",
        "activity_on": ACTIVITY_ON,
        "place": "西会津町 野沢",
        "capacity": 10,
        "max_hours_per_person": "4.5",
    }
    body.update(overrides)
    return body


def post_activity(client: httpx.Client, poster: Person, **overrides: Any) -> dict[str, Any]:
    response = client.post(
        "/v1/activities", json=activity_body(**overrides), headers=poster.headers
    )
    assert response.status_code == 201, response.text
    result: dict[str, Any] = response.json()
    return result


def log_hours(
    client: httpx.Client, supporter: Person, activity_id: str, hours: object
) -> httpx.Response:
    return client.post(
        f"/v1/activities/{activity_id}/contributions",
        json={"hours": hours},
        headers=supporter.headers,
    )


def logged(
    client: httpx.Client, supporter: Person, activity_id: str, hours: object = "2.5"
) -> dict[str, Any]:
    response = log_hours(client, supporter, activity_id, hours)
    assert response.status_code == 201, response.text
    result: dict[str, Any] = response.json()
    return result


def row_counts(world: World) -> dict[str, int]:
    """How many rows each table this feature writes to holds."""
    models = (Activity, Contribution, Issuance, JournalEntry, Posting, ChainOperation)
    with world.db() as session:
        return {
            model.__tablename__: session.scalar(select(func.count()).select_from(model)) or 0
            for model in models
        }
