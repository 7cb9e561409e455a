"""What a request may send, checked where every request comes in, before the app sees it.

:class:`RequestGuard` is the outermost ASGI middleware of the service. It

- refuses control characters in the path, in query values and in form values (422
  ``validation_error``, as ``RequestModel`` does for JSON fields, see ``core/schemas.py``);
- refuses a body larger than ``KOKUDAKA_MAX_REQUEST_BODY_BYTES`` (413
  ``request_too_large``): at once when ``Content-Length`` says so, else (chunked) as soon
  as the bytes received pass the limit;
- reads the whole body within ``KOKUDAKA_REQUEST_BODY_TIMEOUT_SECONDS`` (else 408
  ``request_timeout``), so that no request waits on the network once it is admitted to
  the database (``UnitOfWorkRoute``): one slow client cannot hold the only SQLite slot;
- refuses a body nested deeper than :data:`MAX_BODY_DEPTH` before any JSON parser sees it
  (400 ``body_too_deep``): a parser recurses once per level.

Every refusal is the service's one problem shape (``core/errors.py``).
"""

from __future__ import annotations

from itertools import accumulate
from urllib.parse import parse_qsl

import anyio
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from kokudaka.core.errors import problem_response
from kokudaka.core.schemas import CONTROL_CHARACTER_MESSAGE as CONTROL_MESSAGE
from kokudaka.core.schemas import has_control_character

MAX_BODY_DEPTH = 64
"""Deepest nesting of arrays and objects a request body may have; the service's own
bodies need three levels."""

_NOT_BRACKETS = bytes(b for b in range(256) if b not in b"[]{}")
# An opening bracket becomes 1 and a closing one -1, read as signed bytes.
_STEPS = bytes.maketrans(b"[]{}", b"\x01\xff\x01\xff")


def body_depth(body: bytes) -> int:
    """How deep arrays and objects nest in a JSON text; brackets inside strings do not
        count. Linear in the length and done in C: about 40 ms for a mebibyte of brackets,
    what parsing it would cost."""
    if body.count(b"[") + body.count(b"{") <= MAX_BODY_DEPTH:
        return 0  # cannot be too deep: the common case costs two counts
    # Escaped backslashes go first, then escaped quotes: every quote left opens or
    # closes a string, so the text outside strings is every other piece between quotes.
    unescaped = body.replace(b"\\\\", b"").replace(b'\\"', b"")
    outside = b"".join(unescaped.split(b'"')[::2])
    steps = memoryview(outside.translate(_STEPS, _NOT_BRACKETS)).cast("b")
    return max(accumulate(steps), default=0)


class _TooLarge(Exception):
    pass


class _Disconnected(Exception):
    pass


class RequestGuard:
    """ASGI middleware bounding what a request sends: see the module's docstring."""

    def __init__(self, app: ASGIApp, *, max_body_bytes: int, body_timeout_seconds: float) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes
        self.body_timeout_seconds = body_timeout_seconds

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        refusal = _check_url(scope)
        length, chunked = _declared_body(scope)
        if refusal is None and not length and not chunked:
            await self.app(scope, receive, send)  # no body: nothing to wait for
            return
        body = b""
        if refusal is None:
            try:
                body, refusal = await self._read_body(scope, receive, length)
            except _Disconnected:
                return  # the client went away while sending: nobody is left to answer
        if refusal is None:
            refusal = _check_body(scope, body)
        if refusal is None:
            await self.app(scope, _replay(body, receive), send)
        else:
            await refusal(scope, receive, send)

    async def _read_body(
        self, scope: Scope, receive: Receive, length: int | None
    ) -> tuple[bytes, Response | None]:
        if length is not None and length > self.max_body_bytes:
            return b"", self._too_large(scope)
        chunks: list[bytes] = []
        size = 0
        try:
            with anyio.fail_after(self.body_timeout_seconds):
                while True:
                    message = await receive()
                    if message["type"] == "http.disconnect":
                        raise _Disconnected
                    chunk = message.get("body", b"")
                    size += len(chunk)
                    if size > self.max_body_bytes:
                        return b"", self._too_large(scope)
                    chunks.append(chunk)
                    if not message.get("more_body", False):
                        return b"".join(chunks), None
        except TimeoutError:
            seconds = f"{self.body_timeout_seconds:g}"
            return b"", _problem(scope, 408, "request_timeout", seconds=seconds)

    def _too_large(self, scope: Scope) -> Response:
        return _problem(scope, 413, "request_too_large", max_bytes=self.max_body_bytes)


def _problem(
    scope: Scope, status: int, code: str, *, loc: list[str] | None = None, **params: object
) -> Response:
    """The refusal in the service's one problem shape; ``loc`` names the field of a
    ``validation_error``. After a 408 or 413 the rest of the body is left unread, so the
    connection is closed."""
    extra = None
    if loc is not None:
        extra = {"errors": [{"loc": loc, "type": "control_character", "msg": CONTROL_MESSAGE}]}
    headers = {"Connection": "close"} if status in (408, 413) else None
    return problem_response(Request(scope), status, code, params, headers=headers, extra=extra)


def _declared_body(scope: Scope) -> tuple[int | None, bool]:
    """``Content-Length`` (None when absent) and whether the body is chunked."""
    length: int | None = None
    chunked = False
    for name, value in scope["headers"]:
        if name == b"content-length":
            # The HTTP server has checked it is digits; a length past any limit stays one.
            length = int(value) if len(value) < 19 else 1 << 63
        elif name == b"transfer-encoding":
            chunked = True
    return length, chunked


def _check_url(scope: Scope) -> Response | None:
    """A control character in the path or in a query name or value is refused."""
    if has_control_character(scope["path"]):
        return _problem(scope, 422, "validation_error", loc=["path"])
    query: bytes = scope.get("query_string", b"")
    if query:
        # Decoded as Starlette decodes it for the endpoint (request.query_params).
        for name, value in parse_qsl(query.decode("latin-1"), keep_blank_values=True):
            if has_control_character(name) or has_control_character(value):
                return _problem(scope, 422, "validation_error", loc=["query", name])
    return None


def _check_body(scope: Scope, body: bytes) -> Response | None:
    content_type = _header(scope, b"content-type").split(";", 1)[0].strip().lower()
    if content_type == "application/x-www-form-urlencoded":
        for name, value in parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True):
            if has_control_character(name) or has_control_character(value):
                return _problem(scope, 422, "validation_error", loc=["body", name])
        return None
    if content_type == "multipart/form-data":
        return None  # no endpoint takes one, and its parts are not JSON
    # Anything else may be parsed as JSON (FastAPI parses a body without a content type,
    # the payment webhook parses its raw body).
    if body_depth(body) > MAX_BODY_DEPTH:
        return _problem(scope, 400, "body_too_deep", max_depth=MAX_BODY_DEPTH)
    return None


def _header(scope: Scope, name: bytes) -> str:
    for key, value in scope["headers"]:
        if key == name:
            return str(value.decode("latin-1"))
    return ""


def _replay(body: bytes, receive: Receive) -> Receive:
    """A ``receive`` that gives the app the body already read, then the client's own
    messages (the disconnect a streaming response listens for)."""
    sent = False

    async def replayed() -> Message:
        nonlocal sent
        if sent:
            return await receive()
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    return replayed
