"""Base classes for API schemas, shared by every domain."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Annotated, Any, ClassVar, get_args, get_origin

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    GetJsonSchemaHandler,
    StringConstraints,
    ValidationInfo,
    field_validator,
)
from pydantic.fields import FieldInfo
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import CoreSchema, PydanticCustomError

from kokudaka.core.units import format_koku

# Control characters (C0, DEL, C1) and lone surrogates: PostgreSQL refuses NUL in text
# and no driver can encode a lone surrogate, so either would fail as a server error;
# SQLite would store them and hand them to every reader. Line breaks and tabs are
# allowed only where a field says so (:data:`MultiLine`).
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\ud800-\udfff]")
_CONTROL_BUT_LINE_BREAKS = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff]")
CONTROL_CHARACTER_MESSAGE = "Control characters are not allowed here."
# The same rules as JSON Schema patterns, declared on the text fields of request bodies.
# (Lone surrogates are left out: valid UTF-8 cannot carry them.)
_NO_CONTROL_PATTERN = "^[^\\u0000-\\u001f\\u007f-\\u009f]*$"
_NO_CONTROL_BUT_LINE_BREAKS_PATTERN = (
    "^[^\\u0000-\\u0008\\u000b\\u000c\\u000e-\\u001f\\u007f-\\u009f]*$"
)


def has_control_character(value: str, *, multiline: bool = False) -> bool:
    """Whether ``value`` holds a character no name, key or query may hold; with
    ``multiline``, line breaks and tabs are allowed (free text such as a story)."""
    return (_CONTROL_BUT_LINE_BREAKS if multiline else _CONTROL).search(value) is not None


class _MultiLine:
    """Marker: this free-text field may hold line breaks and tabs."""

    def __repr__(self) -> str:
        return "MultiLine"


MultiLine = _MultiLine()
"""Put in a text field's ``Annotated[...]`` to allow line breaks and tabs in it."""


def _is_multiline(field: FieldInfo) -> bool:
    def marked(annotation: Any) -> bool:
        if get_origin(annotation) is Annotated and any(
            m is MultiLine for m in annotation.__metadata__
        ):
            return True
        return any(marked(arg) for arg in get_args(annotation))

    return any(m is MultiLine for m in field.metadata) or marked(field.annotation)


def _declare_no_control_characters(schema: Any, *, multiline: bool) -> None:
    """Add the pattern to each plain text of a property's JSON Schema (one with a
    pattern, format or enum of its own is stricter already)."""
    if not isinstance(schema, dict):
        return
    own_rule = {"pattern", "format", "enum", "const"} & schema.keys()
    if schema.get("type") == "string" and not own_rule:
        schema["pattern"] = (
            _NO_CONTROL_BUT_LINE_BREAKS_PATTERN if multiline else _NO_CONTROL_PATTERN
        )
    for option in schema.get("anyOf", ()):
        _declare_no_control_characters(option, multiline=multiline)
    _declare_no_control_characters(schema.get("items"), multiline=multiline)


def _refuse_control_characters(value: Any, *, multiline: bool) -> None:
    if isinstance(value, str):
        if has_control_character(value, multiline=multiline):
            raise PydanticCustomError("control_character", CONTROL_CHARACTER_MESSAGE)
    elif isinstance(value, list | tuple | set | frozenset):
        for item in value:
            _refuse_control_characters(item, multiline=multiline)
    elif isinstance(value, dict):
        for key, item in value.items():
            _refuse_control_characters(key, multiline=False)
            _refuse_control_characters(item, multiline=multiline)


class RequestModel(BaseModel):
    """Request bodies refuse unknown fields: a client can never slip in a role, a
    balance, an owner or a municipality that is not its to set (OWASP API3).

    Every text in a request body, in every field of every subclass, is refused with
    ``control_character`` when it holds a control character (only fields marked
    :data:`MultiLine` may hold line breaks and tabs): a new field cannot forget it.
    Query, path and form values get the same check in ``core/request_guard.py``.
    """

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    _multiline_fields: ClassVar[frozenset[str]] = frozenset()

    @classmethod
    def __pydantic_init_subclass__(cls, **kwargs: Any) -> None:
        super().__pydantic_init_subclass__(**kwargs)
        cls._multiline_fields = frozenset(
            name for name, field in cls.model_fields.items() if _is_multiline(field)
        )

    @classmethod
    def __get_pydantic_json_schema__(
        cls, core_schema: CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        # The OpenAPI document states the rule, so that a client (or a fuzzer) knows it.
        schema = handler(core_schema)
        for name, prop in handler.resolve_ref_schema(schema).get("properties", {}).items():
            _declare_no_control_characters(prop, multiline=name in cls._multiline_fields)
        return schema

    @field_validator("*", mode="after")
    @classmethod
    def _no_control_characters(cls, value: Any, info: ValidationInfo) -> Any:
        _refuse_control_characters(value, multiline=info.field_name in cls._multiline_fields)
        return value


class ResponseModel(BaseModel):
    model_config = ConfigDict(from_attributes=True)


class Amount(ResponseModel):
    """An amount of KOKU, as integer go and as KOKU text with three decimals."""

    go: int = Field(description="Integer 合 (go); 1 KOKU = 1000 go.", examples=[1234])
    koku: str = Field(description="The same amount as KOKU text.", examples=["1.234"])

    @classmethod
    def of(cls, go: int) -> Amount:
        return cls(go=go, koku=format_koku(go))


class FieldError(BaseModel):
    """One invalid parameter or body field of a ``validation_error``."""

    loc: list[str] = Field(
        description="Where: `body`, `query`, `path` or `header`, then the field's path.",
        examples=[["body", "amount_yen"]],
    )
    type: str = Field(description="A stable error type.", examples=["greater_than"])
    msg: str = Field(description="What is wrong, in English.")


class Problem(BaseModel):
    """Every error the service answers with: RFC 9457 problem details
    (``application/problem+json``). ``title`` and ``detail`` follow ``Accept-Language``
    (Japanese by default, English on request; the language is in ``Content-Language``).
    """

    type: str = Field(
        description="`https://kokudaka.jp/problems/` followed by the code.",
        examples=["https://kokudaka.jp/problems/work_oversubscribed"],
    )
    title: str = Field(description="What happened, for a person to read.")
    status: int = Field(description="The HTTP status.", examples=[409])
    code: str = Field(
        description="Stable and machine-readable: branch on this, not on the text.",
        examples=["work_oversubscribed"],
    )
    detail: str = Field(description="The same message, with this request's particulars.")
    instance: str = Field(description="The request's path.", examples=["/v1/investments"])
    errors: list[FieldError] = Field(
        default_factory=list,
        description="Only in a `validation_error`: each invalid parameter or body field.",
    )


def _in_utc(value: datetime) -> datetime:
    try:
        return value.astimezone(UTC)
    except OverflowError as exc:  # 9999-12-31T23:59-14:00 is past year 9999 in UTC
        raise ValueError("the instant is out of range") from exc


UtcDatetime = Annotated[AwareDatetime, AfterValidator(_in_utc)]
"""An instant with its timezone, as the database stores it (UTC); one that does not fit
a datetime in UTC is refused with 422 instead of failing where it is stored or compared."""

ShortText = Annotated[str, StringConstraints(min_length=1, max_length=200)]
LongText = Annotated[str, StringConstraints(max_length=5000), MultiLine]
