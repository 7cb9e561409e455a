"""The OpenAPI document tells the truth about every operation.

Structural truths checked here over the whole document; the live behaviour behind it
is fuzzed in ``test_schemathesis.py``. Every 4xx an operation's code can raise must be
declared: the endpoint, its dependencies and the functions of the service they call
are read (their source), and every error of ``core/errors.py`` built there counts.
"""

from __future__ import annotations

import ast
import inspect
import re
import textwrap
import uuid
from collections.abc import Callable, Iterator
from types import ModuleType
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute

from kokudaka.core.errors import PROBLEM_MEDIA_TYPE, KokudakaError
from kokudaka.core.pagination import CURSOR_PATTERN, encode_cursor
from kokudaka.core.settings import Settings
from kokudaka.main import create_app
from tests.world import World


@pytest.fixture(scope="module")
def app(settings: Settings) -> FastAPI:
    return create_app(settings)


@pytest.fixture(scope="module")
def document(app: FastAPI) -> dict[str, Any]:
    return app.openapi()


def _operations(document: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    for path, item in document["paths"].items():
        for method, operation in item.items():
            yield f"{method.upper()} {path}", operation


def test_the_served_document_is_the_built_one(client: httpx.Client, app: FastAPI) -> None:
    served = client.get("/openapi.json")
    assert served.status_code == 200
    assert served.json() == app.openapi()


def test_every_operation_is_described_for_an_app_developer(document: dict[str, Any]) -> None:
    for name, operation in _operations(document):
        assert operation.get("summary"), name
        # A sentence or more: who may call it, what it does.
        assert len(operation.get("description", "")) >= 40, name


def test_every_operation_has_one_declared_tag(document: dict[str, Any]) -> None:
    declared = [tag["name"] for tag in document["tags"]]
    assert len(declared) == len(set(declared))
    used = set()
    for name, operation in _operations(document):
        assert len(operation.get("tags", [])) == 1, name
        assert operation["tags"][0] in declared, name
        used.add(operation["tags"][0])
    assert used == set(declared)


def test_errors_are_problems_never_fastapis_validation_error(document: dict[str, Any]) -> None:
    schemas = document["components"]["schemas"]
    assert "HTTPValidationError" not in schemas
    assert "ValidationError" not in schemas
    assert {"type", "title", "status", "code", "detail", "instance"} <= set(
        schemas["Problem"]["required"]
    )
    assert schemas["Problem"]["properties"]["errors"]["items"] == {
        "$ref": "#/components/schemas/FieldError"
    }
    for name, operation in _operations(document):
        assert "500" not in operation["responses"], name
        assert "422" in operation["responses"], name
        for status, response in operation["responses"].items():
            if status >= "400":
                assert response["content"] == {
                    PROBLEM_MEDIA_TYPE: {"schema": {"$ref": "#/components/schemas/Problem"}}
                }, (name, status)
                assert response["description"], (name, status)


def test_authenticated_operations_declare_401_and_role_gates_403(
    document: dict[str, Any],
) -> None:
    for name, operation in _operations(document):
        responses = operation["responses"]
        assert ("401" in responses) == bool(operation.get("security")) or name.endswith(
            ("/v1/auth/token", "/v1/payments/webhook")
        ), name
    assert "403" in document["paths"]["/v1/regions"]["post"]["responses"]
    assert (
        "`platform_admin`"
        in (document["paths"]["/v1/regions"]["post"]["responses"]["403"]["description"])
    )


def test_operations_with_a_path_id_declare_404(document: dict[str, Any]) -> None:
    for name, operation in _operations(document):
        if "{" in name:
            assert "404" in operation["responses"], name


def test_the_idempotency_key_is_required(document: dict[str, Any]) -> None:
    (header,) = [
        p
        for p in document["paths"]["/v1/investments"]["post"]["parameters"]
        if p["name"] == "Idempotency-Key"
    ]
    assert header["in"] == "header"
    assert header["required"] is True


def test_cursors_declare_their_format(document: dict[str, Any]) -> None:
    cursors = [
        parameter
        for _, operation in _operations(document)
        for parameter in operation.get("parameters", [])
        if parameter["name"] == "cursor"
    ]
    assert len(cursors) >= 5
    for parameter in cursors:
        # On the parameter's schema, where it applies to the string (null is "absent").
        assert parameter["schema"]["pattern"] == CURSOR_PATTERN
    # Every cursor the service hands out matches what it declares.
    assert re.fullmatch(CURSOR_PATTERN, encode_cursor(uuid.uuid4()))
    assert re.fullmatch(CURSOR_PATTERN, encode_cursor(uuid.UUID(int=2**128 - 1)))


def test_admin_operations_are_listed_once(document: dict[str, Any]) -> None:
    for name, operation in _operations(document):
        if " /v1/admin/" in name:
            assert operation["tags"] == ["admin"], name


# --- every 4xx the code can give is declared ---------------------------------------------


def _unwrapped(function: Callable[..., Any]) -> Callable[..., Any]:
    return inspect.unwrap(function)


def _kokudaka_function(value: object) -> Callable[..., Any] | None:
    value = _unwrapped(value) if callable(value) else value
    if (inspect.isfunction(value)) and value.__module__.startswith("kokudaka."):
        return value
    return None


def _resolve(node: ast.expr, namespace: dict[str, Any]) -> object:
    """The object a name or dotted attribute refers to in a function's globals."""
    if isinstance(node, ast.Name):
        return namespace.get(node.id)
    if isinstance(node, ast.Attribute):
        owner = _resolve(node.value, namespace)
        if isinstance(owner, ModuleType | type):
            return getattr(owner, node.attr, None)
    return None


def _statuses_raised(function: Callable[..., Any], seen: set[Callable[..., Any]]) -> set[int]:
    """Statuses of the service errors built in ``function`` and in every function of the
    service it calls, transitively (an over-approximation: all branches count)."""
    if function in seen:
        return set()
    seen.add(function)
    try:
        source = textwrap.dedent(inspect.getsource(function))
    except (OSError, TypeError):
        return set()
    namespace = dict(function.__globals__)
    if function.__closure__:
        for name, cell in zip(function.__code__.co_freevars, function.__closure__, strict=True):
            namespace[name] = cell.cell_contents
    statuses: set[int] = set()
    for node in ast.walk(ast.parse(source)):
        if not isinstance(node, ast.Call):
            continue
        target = _resolve(node.func, namespace)
        if isinstance(target, type) and issubclass(target, KokudakaError):
            statuses.add(target.status)
        elif getattr(target, "__name__", None) == "problem_response" and len(node.args) > 1:
            statuses |= {
                c.value
                for c in ast.walk(node.args[1])
                if isinstance(c, ast.Constant) and isinstance(c.value, int)
            }
        elif (called := _kokudaka_function(target)) is not None:
            statuses |= _statuses_raised(called, seen)
    return statuses


def _dependency_calls(dependant: Dependant) -> Iterator[Callable[..., Any]]:
    for sub in dependant.dependencies:
        if sub.call is not None:
            yield sub.call
        yield from _dependency_calls(sub)


def _route_statuses(route: APIRoute) -> frozenset[int]:
    seen: set[Callable[..., Any]] = set()
    statuses = _statuses_raised(_unwrapped(route.endpoint), seen)
    for call in _dependency_calls(route.dependant):
        if (function := _kokudaka_function(call)) is not None:
            statuses |= _statuses_raised(function, seen)
    return frozenset(statuses)


def test_every_client_error_the_code_can_give_is_declared(
    app: FastAPI, document: dict[str, Any]
) -> None:
    undeclared = {}
    checked = 0
    for route in app.routes:
        if not (isinstance(route, APIRoute) and route.include_in_schema):
            continue
        for method in route.methods:
            operation = document["paths"][route.path_format][method.lower()]
            statuses = {s for s in _route_statuses(route) if 400 <= s < 500}
            missing = {s for s in statuses if str(s) not in operation["responses"]}
            if missing:
                undeclared[f"{method} {route.path_format}"] = sorted(missing)
            checked += 1
    assert checked >= 46
    assert undeclared == {}


def test_the_analysis_sees_errors_raised_deep_in_a_service(app: FastAPI) -> None:
    """The check above is only as good as its reading of the code: a conflict raised two
    calls below the endpoint (investments -> service -> cap check) must be found."""
    (route,) = [
        r
        for r in app.routes
        if isinstance(r, APIRoute) and r.path == "/v1/investments" and "POST" in r.methods
    ]
    assert {401, 403, 404, 409, 422} <= _route_statuses(route)


def test_a_validation_error_answers_as_declared(world: World) -> None:
    response = world.client.post(
        "/v1/investments",
        json={"work_id": str(world.a.work_id), "amount_yen": -1},
        headers={**world.alice.headers, "Idempotency-Key": "k-1"},
    )
    assert response.status_code == 422
    assert response.headers["content-type"] == PROBLEM_MEDIA_TYPE
    body = response.json()
    assert body["code"] == "validation_error"
    assert {"loc", "type", "msg"} == set(body["errors"][0])


def test_a_wrong_method_lists_every_method_of_the_path(world: World) -> None:
    response = world.client.delete("/v1/works", headers=world.a.admin.headers)
    assert response.status_code == 405
    assert sorted(response.headers["allow"].split(", ")) == ["GET", "POST"]
