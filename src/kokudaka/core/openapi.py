"""The OpenAPI document, with every error response the service can give declared.

FastAPI documents each operation's success and, as ``HTTPValidationError`` in
``application/json``, its 422; it knows nothing of the problem responses the
service actually gives (``core/errors.py``). :func:`install_openapi` replaces the
app's document builder with one that derives, for every route, the problems it can
answer with from what the route is made of, so that a route added later is
documented without an edit of its own:

==========  =================================================================
status      declared on
==========  =================================================================
400         every route that takes a body (one that does not parse); routes that say so
401         every route with a bearer token (the security scheme)
403         every route behind a role gate (:func:`declare_problems` on the gate),
            and routes that say so (a scope checked in the service)
404         every route with a path id; and routes that say so
408, 413    every route that takes a body (read with a deadline and a size limit)
409         every route that writes (a concurrent request may win a unique key);
            routes that say so describe their own conflicts
422         every route (``validation_error`` lists the fields in ``errors``;
            unknown query parameters are refused too)
429, 503    routes that say so; 503 on every route that uses the database
==========  =================================================================

A route's own ``responses={409: {"description": ...}}`` gives the description; the
content (``application/problem+json`` with the :class:`Problem` schema) is filled in
here. 500 is never declared: the service must not give one.

Every text a request carries outside a JSON body (query, path and form values) is
checked for control characters by ``core/request_guard.py``; the builder declares
that rule on each of their string schemas, with the pattern the guard compiles
(``core/schemas.py``), so a parameter added later is documented as it is checked.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any, TypeVar

from fastapi import FastAPI
from fastapi.dependencies.models import Dependant
from fastapi.openapi.utils import get_openapi
from fastapi.routing import APIRoute

from kokudaka.core.db import get_session
from kokudaka.core.errors import PROBLEM_MEDIA_TYPE
from kokudaka.core.schemas import Problem, declare_no_control_characters

F = TypeVar("F", bound=Callable[..., Any])

_PROBLEMS_ATTRIBUTE = "__kokudaka_problems__"
_SCHEMA_REF = "#/components/schemas/"
_WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
#: Where the request guard refuses control characters (JSON bodies: ``RequestModel``).
_GUARDED_PARAMETERS = frozenset({"query", "path"})
_FORM_MEDIA_TYPE = "application/x-www-form-urlencoded"

#: Descriptions of the problems derived from a route's make-up.
DEFAULT_DESCRIPTIONS: dict[int, str] = {
    400: "`bad_request`: the body is not well-formed (JSON that does not parse, say).",
    401: "`not_authenticated` (no bearer token) or `invalid_token` (expired, malformed, or "
    "its account was disabled or changed since): sign in again. Sent with "
    "`WWW-Authenticate: Bearer`.",
    403: "`forbidden`: the caller's role or scope may not do this.",
    404: "`not_found`: no such object, or it is not visible to the caller (objects that "
    "belong to someone else answer 404, never 403).",
    408: "`request_timeout`: the body did not arrive in time.",
    409: "`conflict`: a concurrent request changed the same data first; read it again and retry.",
    413: "`body_too_large`: the body is larger than the service accepts.",
    422: "`validation_error`: a parameter or body field is invalid (each one is listed in "
    "`errors`), or a query parameter this operation does not take was sent "
    "(`unknown_query_parameter`).",
    429: "Too many attempts: wait for `Retry-After` seconds.",
    503: "`database_unavailable`: the database does not answer; retry after `Retry-After` seconds.",
}


def declare_problems(dependency: F, problems: dict[int, str]) -> F:
    """Mark a dependency as able to answer with these problems (status: description).

    Every operation that depends on it, directly or through another dependency,
    declares them. Role gates use it for their 403.
    """
    setattr(dependency, _PROBLEMS_ATTRIBUTE, problems)
    return dependency


def _dependants(dependant: Dependant) -> Iterator[Dependant]:
    yield dependant
    for sub in dependant.dependencies:
        yield from _dependants(sub)


def _takes_body(route: APIRoute) -> bool:
    # An endpoint that reads the raw body (the payment webhook) declares it in openapi_extra.
    return route.body_field is not None or "requestBody" in (route.openapi_extra or {})


def _uses_database(route: APIRoute) -> bool:
    return any(d.call is get_session for d in _dependants(route.dependant))


def route_problems(route: APIRoute, operation: dict[str, Any]) -> dict[int, str]:
    """Every problem status ``route`` can answer with, and its description.

    ``operation`` is the route's OpenAPI operation as FastAPI generated it (it tells
    whether the route has a security requirement).
    """
    problems: dict[int, str] = {422: DEFAULT_DESCRIPTIONS[422]}
    if operation.get("security"):
        problems[401] = DEFAULT_DESCRIPTIONS[401]
    for dependant in _dependants(route.dependant):
        problems.update(getattr(dependant.call, _PROBLEMS_ATTRIBUTE, {}))
    if route.dependant.path_params:
        problems[404] = DEFAULT_DESCRIPTIONS[404]
    if _takes_body(route):
        problems[400] = DEFAULT_DESCRIPTIONS[400]
        problems[408] = DEFAULT_DESCRIPTIONS[408]
        problems[413] = DEFAULT_DESCRIPTIONS[413]
    if _uses_database(route):
        problems[503] = DEFAULT_DESCRIPTIONS[503]
        if (route.methods or set()) & _WRITE_METHODS:
            problems[409] = DEFAULT_DESCRIPTIONS[409]
    for status, response in route.responses.items():
        code = int(status)
        if code >= 400:
            problems[code] = response.get("description") or DEFAULT_DESCRIPTIONS[code]
    return dict(sorted(problems.items()))


def _problem_response(description: str) -> dict[str, Any]:
    return {
        "description": description,
        "content": {PROBLEM_MEDIA_TYPE: {"schema": {"$ref": _SCHEMA_REF + "Problem"}}},
    }


def _declare_guarded_text(operation: dict[str, Any], schemas: dict[str, Any]) -> None:
    """State on an operation's query, path and form values that they hold no control
    character, as the request guard checks."""
    for parameter in operation.get("parameters", ()):
        if parameter.get("in") in _GUARDED_PARAMETERS:
            declare_no_control_characters(parameter.get("schema"))
    form = operation.get("requestBody", {}).get("content", {}).get(_FORM_MEDIA_TYPE)
    if form is not None:
        schema = form.get("schema", {})
        ref = schema.get("$ref", "")
        if ref.startswith(_SCHEMA_REF):
            schema = schemas[ref.removeprefix(_SCHEMA_REF)]
        for prop in schema.get("properties", {}).values():
            declare_no_control_characters(prop)


def build_openapi(app: FastAPI) -> dict[str, Any]:
    """The app's OpenAPI document, each operation with its problem responses."""
    if app.openapi_schema:
        return app.openapi_schema
    document = get_openapi(
        title=app.title,
        version=app.version,
        openapi_version=app.openapi_version,
        description=app.description,
        routes=app.routes,
        tags=app.openapi_tags,
    )
    schemas = document.setdefault("components", {}).setdefault("schemas", {})
    for route in app.routes:
        if not (isinstance(route, APIRoute) and route.include_in_schema):
            continue
        for method in route.methods or ():
            operation = document["paths"][route.path_format][method.lower()]
            _declare_guarded_text(operation, schemas)
            responses = operation["responses"]
            for status in [s for s in responses if s[0] in "45"]:
                del responses[status]  # FastAPI's 422 and the routes' bare entries
            for status, description in route_problems(route, operation).items():
                responses[str(status)] = _problem_response(description)
    for name in ("HTTPValidationError", "ValidationError"):
        schemas.pop(name, None)
    problem_schema = Problem.model_json_schema(ref_template=_SCHEMA_REF + "{model}")
    schemas.update(problem_schema.pop("$defs", {}))
    schemas["Problem"] = problem_schema
    document["components"]["schemas"] = dict(sorted(schemas.items()))
    app.openapi_schema = document
    return document


def install_openapi(app: FastAPI) -> None:
    """Serve :func:`build_openapi` as the app's ``/openapi.json``."""

    def openapi() -> dict[str, Any]:
        return build_openapi(app)

    app.openapi = openapi  # type: ignore[method-assign]
