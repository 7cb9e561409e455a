"""What a request may send is exactly what the OpenAPI document declares.

Each rule is written once, in the shared schema types (``core/schemas.py``): the
document states it and the service checks it, so a value the document allows is never
refused as invalid, and a value it forbids is never taken. ``test_schemathesis.py``
fuzzes the whole API against the document; these tests pin each rule by hand.
"""

from __future__ import annotations

import re
from datetime import date
from typing import Any

import httpx
import pytest
from pydantic import StrictBool

from kokudaka.core.schemas import (
    NO_CONTROL_PATTERN,
    IsoDate,
    JsonInt,
    RequestModel,
    has_control_character,
)
from tests.volunteering.helpers import activity_body, log_hours, post_activity
from tests.world import World, assert_problem


def _document(client: httpx.Client) -> dict[str, Any]:
    document: dict[str, Any] = client.get("/openapi.json").json()
    return document


def _texts(schema: Any) -> list[dict[str, Any]]:
    """The plain string schemas inside a parameter's or property's schema."""
    if not isinstance(schema, dict):
        return []
    found = [schema] if schema.get("type") == "string" else []
    for option in schema.get("anyOf", ()):
        found += _texts(option)
    return found


def test_query_path_and_form_text_declare_the_guards_rule(client: httpx.Client) -> None:
    document = _document(client)
    checked = 0
    for path, item in document["paths"].items():
        for method, operation in item.items():
            for parameter in operation.get("parameters", ()):
                if parameter["in"] not in ("query", "path"):
                    continue
                schema = parameter["schema"]
                for text in _texts(schema):
                    pattern = text.get("pattern") or schema.get("pattern")
                    if text.get("format") or text.get("enum"):
                        continue
                    assert pattern, f"{method} {path} {parameter['name']}"
                    assert not re.fullmatch(pattern, "a\u0000b")
                    checked += 1
    form = document["components"]["schemas"]["Body_token_v1_auth_token_post"]["properties"]
    assert form["username"]["pattern"] == NO_CONTROL_PATTERN
    assert form["password"]["pattern"] == NO_CONTROL_PATTERN
    assert checked >= 5  # q, variety, cursor, ...


@pytest.mark.parametrize("text", ["山田花子", "a\u0000b", "a\nb", "a\u0085b", "ok\n", "\u007f"])
def test_the_guard_checks_the_pattern_the_document_declares(text: str) -> None:
    assert has_control_character(text) == (re.fullmatch(NO_CONTROL_PATTERN, text) is None)


def test_a_query_value_the_document_refuses_is_refused(client: httpx.Client) -> None:
    # The document's pattern refuses it, so does the service (and not as a server error).
    response = client.get("/v1/works", params={"variety": "a\u0085b"})
    assert_problem(response, 422, "validation_error")


def test_the_document_has_json_schema_bounds_only(client: httpx.Client) -> None:
    # Pydantic names a bound set after a validator "ge"; JSON Schema knows only "minimum".
    text = client.get("/openapi.json").text
    for name in ("ge", "le", "gt", "lt", "multiple_of"):
        assert f'"{name}":' not in text
    season = _document(client)["components"]["schemas"]["WorkCreate"]["properties"]["season"]
    assert (season["minimum"], season["maximum"]) == (2000, 2200)


@pytest.mark.parametrize(
    ("field", "value"),
    [("is_open", 0), ("is_open", "true"), ("offer_yen", False), ("offer_yen", "2000000")],
)
def test_a_body_takes_values_only_as_the_declared_type(
    client: httpx.Client, world: World, field: str, value: object
) -> None:
    response = client.patch(
        f"/v1/works/{world.a.work_id}", json={field: value}, headers=world.a.farmer.headers
    )
    assert_problem(response, 422, "validation_error")
    assert response.json()["errors"][0]["loc"] == ["body", field]


def test_a_json_integer_may_have_a_zero_fraction(client: httpx.Client, world: World) -> None:
    # JSON Schema's integer is a number without a fraction: 12.0 is one.
    activity = post_activity(client, world.a.farmer, capacity=12.0)
    assert activity["capacity"] == 12
    response = client.post(
        "/v1/activities", json=activity_body(capacity=12.5), headers=world.a.farmer.headers
    )
    assert_problem(response, 422, "validation_error")


@pytest.mark.parametrize(
    ("path", "params"),
    [
        ("/v1/activities", {"to": "0"}),
        ("/v1/activities", {"from": "2026-06-14T00:00:00"}),
        ("/v1/works", {"is_open": "1"}),
        ("/v1/works", {"is_open": "yes"}),
        ("/v1/audit/issuances", {"from": "0"}),
        ("/v1/audit/issuances", {"from": "2026-04-01T00:00+09:00"}),
        ("/v1/audit/issuances", {"reversed": "0"}),
    ],
)
def test_a_query_takes_values_only_as_the_declared_type(
    client: httpx.Client, world: World, path: str, params: dict[str, str]
) -> None:
    response = client.get(path, params=params, headers=world.a.admin.headers)
    assert_problem(response, 422, "validation_error")


def test_declared_query_values_are_taken(client: httpx.Client, world: World) -> None:
    for path, params in [
        ("/v1/activities", {"from": "2026-06-14", "to": "2026-06-14"}),
        ("/v1/works", {"is_open": "false"}),
        ("/v1/audit/issuances", {"from": "2026-04-01T00:00:00+09:00", "reversed": "true"}),
    ]:
        response = client.get(path, params=params, headers=world.a.admin.headers)
        assert response.status_code == 200, response.text


def test_an_update_refuses_null_where_the_document_has_none(
    client: httpx.Client, world: World
) -> None:
    schemas = _document(client)["components"]["schemas"]
    assert schemas["WorkUpdate"]["properties"]["title"]["type"] == "string"
    assert "anyOf" not in schemas["FarmerUpdate"]["properties"]["name"]
    photo = schemas["FarmerUpdate"]["properties"]["photo_url"]
    assert {"type": "null"} in photo["anyOf"]  # may be cleared
    response = client.patch(
        f"/v1/works/{world.a.work_id}", json={"title": None}, headers=world.a.farmer.headers
    )
    assert_problem(response, 422, "validation_error")
    assert response.json()["errors"][0]["type"] == "null_not_allowed"
    farmer = f"/v1/farmers/{world.a.farmer_id}"
    cleared = client.patch(farmer, json={"photo_url": None}, headers=world.a.farmer.headers)
    assert cleared.status_code == 200, cleared.text


@pytest.mark.parametrize(
    ("url", "taken"),
    [
        ("https://example.jp/photos/sato.jpg?size=2#top", True),
        ("https://photos.example.jp:8443/a", True),
        ("http://example.jp/a.jpg", False),
        ("https://", False),
        ("https://example.jp/a b.jpg", False),
        ("https://例え.jp/a.jpg", False),  # sent percent-encoded or as punycode
    ],
)
def test_a_photo_url_is_taken_exactly_when_the_pattern_says(
    client: httpx.Client, world: World, url: str, taken: bool
) -> None:
    pattern = _document(client)["components"]["schemas"]["FarmerUpdate"]["properties"]["photo_url"][
        "anyOf"
    ][0]["pattern"]
    assert (re.fullmatch(pattern, url) is not None) is taken
    response = client.patch(
        f"/v1/farmers/{world.a.farmer_id}",
        json={"photo_url": url},
        headers=world.a.farmer.headers,
    )
    assert response.status_code == (200 if taken else 422), response.text


@pytest.mark.parametrize(
    ("hours", "taken"),
    [
        (2.5, True),
        ("2.5", True),
        ("2.50", True),
        ("0.25", True),
        ("4", True),
        ("2.5e0", False),
        ("+2.5", False),
        ("2.500", False),
        ("", False),
        (" 2.5", False),
        ("0", False),
        (2.4, False),
        (True, False),
    ],
)
def test_hours_are_taken_exactly_as_the_document_says(
    client: httpx.Client, world: World, hours: object, taken: bool
) -> None:
    declared = _document(client)["components"]["schemas"]["ContributionCreate"]
    number, text = declared["properties"]["hours"]["anyOf"]
    assert number == {"type": "number", "minimum": 0.25, "maximum": 24, "multipleOf": 0.25}
    if isinstance(hours, str):
        assert (re.fullmatch(text["pattern"], hours) is not None) is taken
    activity = post_activity(client, world.a.farmer)
    response = log_hours(client, world.alice, activity["id"], hours)
    assert response.status_code == (201 if taken else 422), response.text


def test_text_is_kept_as_sent_and_may_not_be_blank(client: httpx.Client, world: World) -> None:
    work = f"/v1/works/{world.a.work_id}"
    kept = client.patch(work, json={"title": " 棚田米 "}, headers=world.a.farmer.headers)
    assert kept.json()["title"] == " 棚田米 "
    blank = client.patch(work, json={"title": "\u3000 "}, headers=world.a.farmer.headers)
    assert_problem(blank, 422, "validation_error")
    assert blank.json()["errors"][0]["type"] == "string_blank"


def test_a_staff_account_names_what_its_role_needs(client: httpx.Client, world: World) -> None:
    body = _document(client)["paths"]["/v1/admin/users"]["post"]["requestBody"]
    schema = body["content"]["application/json"]["schema"]
    assert schema["discriminator"]["propertyName"] == "role"
    missing_town = client.post(
        "/v1/admin/users",
        json={
            "email": "staff@example.jp",
            "password": "correct horse battery",
            "display_name": "staff",
            "role": "town_admin",
        },
        headers=world.platform_admin.headers,
    )
    assert_problem(missing_town, 422, "validation_error")
    assert missing_town.json()["errors"][0]["loc"][-1] == "municipality_id"


def test_an_email_at_a_name_kept_for_testing_is_taken(client: httpx.Client) -> None:
    response = client.post(
        "/v1/auth/register",
        json={
            "email": "hanako@mail.test",
            "password": "correct horse battery",
            "display_name": "花子",
        },
    )
    assert response.status_code == 201, response.text


def test_a_request_model_with_a_lax_type_is_refused_when_made() -> None:
    with pytest.raises(TypeError, match="bool would be taken"):

        class Lax(RequestModel):
            flag: bool

    class Strict(RequestModel):
        flag: StrictBool
        count: JsonInt
        day: IsoDate

    assert Strict(flag=True, count=1, day="2026-05-17").day == date(2026, 5, 17)
