"""Signing in to the console over plain HTTP, as a browser would (cookies and forms)."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import httpx

from tests.world import PASSWORD, SEASON, Person, Town, World

_CSRF = re.compile(r'name="csrf_token" value="([^"]*)"')


def csrf_of(html: str) -> str:
    """The CSRF token the page's forms carry."""
    match = _CSRF.search(html)
    assert match, "no form with a CSRF token on the page"
    return match.group(1)


def console_client(base_url: str, language: str = "ja") -> httpx.Client:
    return httpx.Client(base_url=base_url, timeout=30, headers={"Accept-Language": language})


def sign_in(client: httpx.Client, email: str, password: str = PASSWORD) -> httpx.Response:
    """Open the sign-in form and post it; answers the post (303 on success)."""
    form = client.get("/console/sign-in")
    assert form.status_code == 200, form.text
    return client.post(
        "/console/sign-in",
        data={"email": email, "password": password, "csrf_token": csrf_of(form.text)},
    )


@contextmanager
def signed_in_client(
    base_url: str, email: str, language: str = "ja", password: str = PASSWORD
) -> Iterator[httpx.Client]:
    with console_client(base_url, language) as client:
        response = sign_in(client, email, password)
        assert response.status_code == 303, response.text
        yield client


def pending_hours(world: World, town: Town, supporter: Person, hours: str = "2.5") -> str:
    """An activity on the town's farmer's farm, with a supporter's hours awaiting approval;
    answers the contribution's id."""
    activity = world.client.post(
        "/v1/activities",
        json={
            "title": "田植え",
            "description": "",
            "activity_on": f"{SEASON}-05-20",
            "place": "西会津町 野沢",
            "capacity": 10,
            "max_hours_per_person": "8",
        },
        headers=town.farmer.headers,
    )
    assert activity.status_code == 201, activity.text
    logged = world.client.post(
        f"/v1/activities/{activity.json()['id']}/contributions",
        json={"hours": hours},
        headers=supporter.headers,
    )
    assert logged.status_code == 201, logged.text
    return str(logged.json()["id"])


def invested(world: World, town: Town, supporter: Person, amount_yen: int) -> str:
    """A supporter's investment in the town's work, awaiting payment; answers its id."""
    response = world.client.post(
        "/v1/investments",
        json={"work_id": str(town.work_id), "amount_yen": amount_yen},
        headers={**supporter.headers, "Idempotency-Key": uuid.uuid4().hex},
    )
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


def confirmed(world: World, town: Town, investment_id: str) -> None:
    response = world.client.post(
        f"/v1/investments/{investment_id}/confirm",
        json={"payment_reference": "furikomi-0001"},
        headers=town.admin.headers,
    )
    assert response.status_code == 200, response.text
