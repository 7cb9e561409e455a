"""Signing in to the console over plain HTTP, as a browser would (cookies and forms)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager

import httpx

from tests.world import PASSWORD

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
def signed_in_client(base_url: str, email: str, language: str = "ja") -> Iterator[httpx.Client]:
    with console_client(base_url, language) as client:
        response = sign_in(client, email)
        assert response.status_code == 303, response.text
        yield client
