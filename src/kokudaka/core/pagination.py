"""Cursor paging over time-ordered ids: newest first, stable under inserts."""

from __future__ import annotations

import base64
import re
import uuid
from collections.abc import Sequence
from typing import Annotated, Any, Generic, TypeVar

from fastapi import Query
from pydantic import BaseModel, Field
from sqlalchemy import Select
from sqlalchemy.orm import InstrumentedAttribute

from kokudaka.core.engines import literal_limit
from kokudaka.core.errors import Unprocessable

DEFAULT_LIMIT = 50
MAX_LIMIT = 200

#: A cursor is the last row's id (16 bytes) in unpadded URL-safe base64: 22 characters,
#: the last of which carries two bits (so it is one of A, Q, g, w). Anything else is
#: refused as ``invalid_cursor``, and the OpenAPI document declares exactly this.
CURSOR_PATTERN = "^[A-Za-z0-9_-]{21}[AQgw]$"
_CURSOR = re.compile(CURSOR_PATTERN)


T = TypeVar("T")
S = TypeVar("S", bound="Select[*tuple[Any, ...]]")
R = TypeVar("R")


class Page(BaseModel, Generic[T]):
    items: list[T]
    next_cursor: str | None = Field(
        default=None, description="Pass as `cursor` for the next page; null on the last page."
    )


class PageParams(BaseModel):
    limit: int
    cursor: uuid.UUID | None


def encode_cursor(value: uuid.UUID) -> str:
    return base64.urlsafe_b64encode(value.bytes).decode().rstrip("=")


def decode_cursor(cursor: str) -> uuid.UUID:
    if not _CURSOR.fullmatch(cursor):
        raise Unprocessable("invalid_cursor")
    return uuid.UUID(bytes=base64.urlsafe_b64decode(cursor + "=="))


# ``async`` though it does no I/O: FastAPI runs a plain ``def`` dependency in a worker
# thread, a hop that costs more than the function.
async def page_params(
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = DEFAULT_LIMIT,
    cursor: Annotated[
        str | None,
        Query(
            description="`next_cursor` of the previous page; omit for the first page.",
            json_schema_extra={"pattern": CURSOR_PATTERN},
        ),
    ] = None,
) -> PageParams:
    return PageParams(limit=limit, cursor=None if cursor is None else decode_cursor(cursor))


def paginate(statement: S, id_column: InstrumentedAttribute[uuid.UUID], params: PageParams) -> S:
    """Newest first by id, starting after the cursor; fetch one extra row to know if
    another page follows."""
    if params.cursor is not None:
        statement = statement.where(id_column < params.cursor)
    return statement.order_by(id_column.desc()).limit(literal_limit(params.limit + 1))


def next_cursor(rows: Sequence[R], params: PageParams, key: Any) -> tuple[list[R], str | None]:
    """Trim the extra row and compute the cursor from the last row kept."""
    items = list(rows[: params.limit])
    if len(rows) > params.limit:
        return items, encode_cursor(key(items[-1]))
    return items, None
