"""One error root, one handler, one shape: RFC 9457 problem details with a stable code.

Services raise subclasses of :class:`KokudakaError`; they never know about HTTP
responses. The handlers here render those, request validation errors, routing errors,
database outages and anything unexpected as ``application/problem+json``::

    {"type": "https://kokudaka.jp/problems/work_closed", "title": "...", "status": 409,
     "code": "work_closed", "detail": "...", "instance": "/v1/investments"}
"""

from __future__ import annotations

import logging
import traceback
from typing import Any, ClassVar

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match, Route

from kokudaka.core.i18n import (
    MESSAGES,
    field_error_message,
    message,
    negotiate_language,
    untranslated_terms,
)

logger = logging.getLogger(__name__)

PROBLEM_BASE = "https://kokudaka.jp/problems/"
PROBLEM_MEDIA_TYPE = "application/problem+json"


class KokudakaError(Exception):
    """Root of every error the service reports to a client."""

    status: ClassVar[int] = 400
    default_code: ClassVar[str] = "bad_request"

    def __init__(
        self,
        code: str | None = None,
        *,
        headers: dict[str, str] | None = None,
        **params: object,
    ) -> None:
        self.code = code or self.default_code
        if self.code not in MESSAGES:
            raise ValueError(f"error code without a message: {self.code}")
        if untranslated := untranslated_terms(params):
            raise ValueError(f"terms without a Japanese name: {', '.join(untranslated)}")
        self.params = params
        self.headers = headers or {}
        super().__init__(self.code)


class BadRequest(KokudakaError):
    status = 400
    default_code = "bad_request"


class Unauthorized(KokudakaError):
    status = 401
    default_code = "not_authenticated"


class Forbidden(KokudakaError):
    status = 403
    default_code = "forbidden"


class NotFound(KokudakaError):
    status = 404
    default_code = "not_found"

    def __init__(self, resource: str = "Resource") -> None:
        super().__init__("not_found", resource=resource)


class Conflict(KokudakaError):
    status = 409
    default_code = "conflict"


class Unprocessable(KokudakaError):
    status = 422
    default_code = "validation_error"


class TooManyRequests(KokudakaError):
    status = 429
    default_code = "too_many_sign_in_attempts"


class ServiceUnavailable(KokudakaError):
    status = 503
    default_code = "database_unavailable"


def problem_response(
    request: Request,
    status: int,
    code: str,
    params: dict[str, object] | None = None,
    *,
    headers: dict[str, str] | None = None,
    extra: dict[str, Any] | None = None,
) -> JSONResponse:
    language = negotiate_language(request.headers.get("accept-language"))
    text = message(code, language, params or {})
    body: dict[str, Any] = {
        "type": PROBLEM_BASE + code,
        "title": text,
        "status": status,
        "code": code,
        "detail": text,
        "instance": request.url.path,
    }
    if extra:
        body.update(extra)
    response_headers = {"Content-Language": language, **(headers or {})}
    return JSONResponse(
        body, status_code=status, headers=response_headers, media_type=PROBLEM_MEDIA_TYPE
    )


async def _kokudaka_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, KokudakaError)
    return problem_response(request, exc.status, exc.code, exc.params, headers=exc.headers)


async def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    language = negotiate_language(request.headers.get("accept-language"))
    errors = [
        {
            "loc": [str(part) for part in error.get("loc", ())],
            "type": error.get("type", "value_error"),
            "msg": field_error_message(
                error.get("type", "value_error"),
                error.get("ctx"),
                error.get("msg", ""),
                language,
            ),
        }
        for error in exc.errors()
    ]
    return problem_response(request, 422, "validation_error", extra={"errors": errors})


_HTTP_CODES = {401: "not_authenticated", 404: "not_found", 405: "method_not_allowed"}


def _allowed_methods(request: Request) -> str:
    """Every method the request's path answers to.

    Starlette's 405 names only the methods of the first route whose path matched; the
    app's routes are one flat list with a route per method (``routes.py``)."""
    methods: set[str] = set()
    for route in request.app.router.routes:
        if isinstance(route, Route) and route.methods:
            match, _ = route.matches(request.scope)
            if match is not Match.NONE:
                methods |= route.methods
    return ", ".join(sorted(methods))


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    code = _HTTP_CODES.get(exc.status_code, "bad_request")
    params: dict[str, object] = {"resource": "Page"} if code == "not_found" else {}
    headers = dict(exc.headers or {})
    if exc.status_code == 405:
        headers["Allow"] = _allowed_methods(request)
    return problem_response(request, exc.status_code, code, params, headers=headers)


def describe_database_error(exc: DBAPIError) -> str:
    """What failed, without any value a request sent.

    Never the statement's parameters (the engine hides them as well, see
    ``create_db_engine``: they hold password hashes, names, addresses), nor PostgreSQL's
    message text, which quotes the offending value ("Key (email)=(…) already exists").
    SQLite's messages name a constraint or a failure, never a value.
    """
    orig = exc.orig
    diag = getattr(orig, "diag", None)
    if diag is not None:
        names = (
            ("sqlstate", diag.sqlstate),
            ("table", diag.table_name),
            ("column", diag.column_name),
            ("constraint", diag.constraint_name),
        )
        what = ", ".join(f"{name} {value}" for name, value in names if value)
    else:
        what = str(orig)
    return f"{type(orig).__name__} ({what}) in: {exc.statement}"


async def _database_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, DBAPIError)
    path = request.url.path
    # A uniqueness race the service did not foresee is still the client's conflict,
    # not a server fault; an unreachable or restarting database is a 503 to retry.
    if isinstance(exc, IntegrityError):
        logger.warning("integrity conflict on %s: %s", path, describe_database_error(exc))
        return problem_response(request, 409, "conflict")
    if isinstance(exc, OperationalError) or exc.connection_invalidated:
        logger.warning("database unavailable on %s: %s", path, describe_database_error(exc))
        return problem_response(request, 503, "database_unavailable", headers={"Retry-After": "1"})
    # The traceback's frames, not the exception's text (which quotes the database's message).
    frames = "".join(traceback.format_tb(exc.__traceback__))
    logger.error("database error on %s: %s\n%s", path, describe_database_error(exc), frames)
    return problem_response(request, 500, "internal_error")


async def _unexpected_error(request: Request, exc: Exception) -> JSONResponse:
    logger.exception("unexpected error on %s", request.url.path, exc_info=exc)
    return problem_response(request, 500, "internal_error")


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(KokudakaError, _kokudaka_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(DBAPIError, _database_error)
    app.add_exception_handler(Exception, _unexpected_error)
