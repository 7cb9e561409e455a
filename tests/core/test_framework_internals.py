"""The FastAPI and Starlette internals the service builds on, checked against the installed
versions, so that an upgrade past the bounds in ``pyproject.toml`` fails here, naming what to
re-check, instead of somewhere in a request.

What reaches past the public API, and where:

- ``core/db.py`` (``UnitOfWorkRoute``): ``fastapi.dependencies.utils.get_dependant`` to see,
  before the route is built, whether the endpoint takes the request's session; an endpoint
  wrapper whose ``__signature__`` FastAPI reads to solve its parameters (one extra keyword
  parameter for the session); ``APIRoute.get_route_handler`` overridden to mark the request
  read-only in ``request.scope`` before FastAPI solves the dependencies; the dependency cache
  giving the endpoint and its dependencies one session; ``Dependant`` fields (``dependencies``,
  ``call``, ``name``, ``query_params`` with their ``alias``).
- ``core/openapi.py``: ``Dependant.path_params`` and the route's ``body_field``,
  ``openapi_extra``, ``responses``, ``path_format``.
- ``core/errors.py``: ``starlette.routing.Route.matches`` and ``Match`` for a 405's ``Allow``.

When a bound is raised: read FastAPI's ``routing.py`` (``APIRoute.__init__``,
``get_request_handler``) and ``dependencies/utils.py`` (``get_dependant``,
``get_typed_signature``, ``solve_dependencies``) and Starlette's ``routing.py`` for changes to
the above, run ``tests/core`` (``test_unit_of_work.py``, ``test_read_only_routes.py``,
``test_openapi.py``, ``test_query_parameters.py``), then move the bound here and in
``pyproject.toml`` together.
"""

from __future__ import annotations

import dataclasses
import inspect
import tomllib
from concurrent.futures import ThreadPoolExecutor
from importlib.metadata import version
from pathlib import Path
from typing import Annotated, Any

import anyio
import httpx
import pytest
from fastapi import APIRouter, Depends, FastAPI, Query, Request
from fastapi.dependencies.models import Dependant
from fastapi.dependencies.utils import get_dependant
from fastapi.routing import APIRoute
from packaging.requirements import Requirement
from sqlalchemy.orm import Session
from starlette.routing import Match, Route

from kokudaka.core.db import DbSession, UnitOfWorkRoute, get_session

PYPROJECT = Path(__file__).resolve().parents[2] / "pyproject.toml"

#: The packages whose internals are used, and the versions they were last checked against.
CHECKED = {"fastapi": "0.165.0", "starlette": "1.10.0"}


def _get(app: FastAPI, path: str) -> httpx.Response:
    """``GET path`` on ``app`` in process, in a thread of its own (the browser tests keep an
    event loop running in the main thread)."""

    async def get() -> httpx.Response:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://app") as client:
            return await client.get(path)

    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(anyio.run, get).result()


def _requirements() -> dict[str, Requirement]:
    project = tomllib.loads(PYPROJECT.read_text(encoding="utf-8"))["project"]
    parsed = (Requirement(line) for line in project["dependencies"])
    return {r.name: r for r in parsed if r.name in CHECKED}


@pytest.mark.parametrize("name", sorted(CHECKED))
def test_the_installed_framework_is_within_the_checked_range(name: str) -> None:
    requirement = _requirements().get(name)
    assert requirement is not None, f"{name} is not a declared dependency"
    upper = [s for s in requirement.specifier if s.operator == "<"]
    assert upper, f"{name} needs an upper bound: its internals are used (see this module)"
    assert requirement.specifier.contains(CHECKED[name]), (
        f"{name} {CHECKED[name]} was checked but {requirement} excludes it"
    )
    installed = version(name)
    assert requirement.specifier.contains(installed), (
        f"{name} {installed} is outside {requirement}: re-check the internals named in "
        "this module's docstring before moving the bound"
    )


def test_get_dependant_takes_path_and_call_by_keyword() -> None:
    parameters = inspect.signature(get_dependant).parameters
    assert {"path", "call"} <= parameters.keys()
    assert parameters["path"].kind is inspect.Parameter.KEYWORD_ONLY
    assert parameters["call"].kind is inspect.Parameter.KEYWORD_ONLY


def test_dependant_has_the_fields_the_service_reads() -> None:
    fields = {f.name for f in dataclasses.fields(Dependant)}
    assert {"dependencies", "call", "name", "query_params", "path_params"} <= fields

    def endpoint(
        session: DbSession, season: Annotated[int | None, Query(alias="season-year")] = None
    ) -> None:
        """Reads nothing."""

    dependant = get_dependant(path="/x/{item_id}", call=endpoint)
    (session_dependency,) = dependant.dependencies
    assert session_dependency.call is get_session
    assert session_dependency.name == "session"
    assert session_dependency.use_cache  # one session per request, shared by every dependency
    assert [f.alias for f in dependant.query_params] == ["season-year"]


def test_api_route_exposes_what_the_route_class_and_openapi_read() -> None:
    route = APIRoute("/x/{item_id}", lambda item_id: None, methods=["POST"])
    for attribute in ("dependant", "body_field", "openapi_extra", "responses", "path_format"):
        assert hasattr(route, attribute), attribute
    assert inspect.signature(APIRoute.get_route_handler).parameters.keys() == {"self"}
    assert inspect.iscoroutinefunction(route.get_route_handler())


def test_fastapi_solves_the_signature_the_unit_of_work_wrapper_declares() -> None:
    # UnitOfWorkRoute wraps an endpoint that reaches the session only through a dependency
    # and adds a keyword parameter for it to the wrapper's __signature__: FastAPI must
    # solve it, and hand the endpoint's dependency the same (cached) session.
    seen: list[Session] = []

    def dependency(session: DbSession) -> int:
        seen.append(session)
        return 7

    router = APIRouter(route_class=UnitOfWorkRoute)

    @router.get("/through-a-dependency")
    def endpoint(value: int = Depends(dependency)) -> dict[str, int]:
        return {"value": value}

    (route,) = router.routes
    assert isinstance(route, UnitOfWorkRoute)
    names = [d.name for d in route.dependant.dependencies]
    assert "kokudaka_request_session" in names
    assert "kokudaka_request_session" in inspect.signature(route.endpoint).parameters

    opened: list[Session] = []

    class _Database:
        """Enough of core.db.Database for one read-only request."""

        read_limiter = anyio.Semaphore(1)

        def read_sessions(self) -> Session:
            opened.append(Session())
            return opened[-1]

    app = FastAPI()
    app.include_router(router)
    app.state.database = _Database()
    response = _get(app, "/through-a-dependency")
    assert response.status_code == 200, response.text
    assert response.json() == {"value": 7}
    assert seen == opened  # the dependency got the one session the route committed


def test_route_handler_override_sees_the_scope_before_dependencies_run() -> None:
    # UnitOfWorkRoute marks the request read-only in request.scope in its handler; the
    # session dependency reads the mark, so FastAPI must solve dependencies inside the
    # handler it returns from get_route_handler.
    marks: list[object] = []

    def dependency(request: Request) -> None:
        marks.append(request.scope.get("kokudaka.marked"))

    class Marking(APIRoute):
        def get_route_handler(self) -> Any:
            handler = super().get_route_handler()

            async def marked(request: Request) -> Any:
                request.scope["kokudaka.marked"] = True
                return await handler(request)

            return marked

    router = APIRouter(route_class=Marking)

    @router.get("/marked")
    def endpoint(_: None = Depends(dependency)) -> dict[str, bool]:
        return {"ok": True}

    app = FastAPI()
    app.include_router(router)
    assert _get(app, "/marked").status_code == 200
    assert marks == [True]


def test_starlette_route_matching_for_allow() -> None:
    route = Route("/things/{id}", lambda request: None, methods=["GET"])
    scope = {"type": "http", "path": "/things/1", "method": "DELETE", "root_path": ""}
    match, _ = route.matches(scope)
    assert match is Match.PARTIAL  # the path matched, the method did not: a 405
    assert route.methods is not None
    assert "GET" in route.methods
