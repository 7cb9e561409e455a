"""Base classes for API schemas, shared by every domain."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, date, datetime
from typing import Annotated, Any, ClassVar, TypeVar, get_args, get_origin

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    GetJsonSchemaHandler,
    Strict,
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
#
# The rule is written once, as the JSON Schema patterns the OpenAPI document declares on
# every text (body fields, query, path and form values); the service checks text by
# compiling these very patterns (``RequestModel`` for bodies, ``core/request_guard.py``
# for the rest). Escapes are ``\uXXXX``, read alike by Python and ECMA-262 regexes.
_CONTROL = "\\u0000-\\u001f\\u007f-\\u009f"
_CONTROL_BUT_LINE_BREAKS = "\\u0000-\\u0008\\u000b\\u000c\\u000e-\\u001f\\u007f-\\u009f"
# Unicode's White_Space outside the control ranges (the same in every regex engine, as
# ``\\s`` is not), and the line breaks and tab free text may hold.
_SPACE = "\\u0020\\u00a0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000"
_BREAKS = "\\u0009\\u000a\\u000d"
NO_CONTROL_PATTERN = f"^[^{_CONTROL}]*$"
NO_CONTROL_BUT_LINE_BREAKS_PATTERN = f"^[^{_CONTROL_BUT_LINE_BREAKS}]*$"
# A body's text is kept as sent (never trimmed: the document could not say so), so it
# also may not be blank: empty, or holding something besides white space.
TEXT_PATTERN = f"^(?:[^{_CONTROL}]*[^{_CONTROL}{_SPACE}][^{_CONTROL}]*)?$"
MULTILINE_TEXT_PATTERN = (
    f"^(?:[^{_CONTROL_BUT_LINE_BREAKS}]*[^{_CONTROL_BUT_LINE_BREAKS}{_SPACE}{_BREAKS}]"
    f"[^{_CONTROL_BUT_LINE_BREAKS}]*)?$"
)
_NO_CONTROL = re.compile(NO_CONTROL_PATTERN)
_NO_CONTROL_BUT_LINE_BREAKS = re.compile(NO_CONTROL_BUT_LINE_BREAKS_PATTERN)
_TEXT = re.compile(TEXT_PATTERN)
_MULTILINE_TEXT = re.compile(MULTILINE_TEXT_PATTERN)
# A lone surrogate is no Unicode scalar value, so no JSON Schema string holds one and
# the patterns need not name it; a JSON escape ("\\ud800") can still send one.
_LONE_SURROGATE = re.compile("[\\ud800-\\udfff]")
CONTROL_CHARACTER_MESSAGE = "Control characters are not allowed here."
BLANK_MESSAGE = "Text may not be only white space."


def has_control_character(value: str, *, multiline: bool = False) -> bool:
    """Whether ``value`` holds a character no name, key or query may hold; with
    ``multiline``, line breaks and tabs are allowed (free text such as a story)."""
    allowed = _NO_CONTROL_BUT_LINE_BREAKS if multiline else _NO_CONTROL
    # fullmatch: Python's ``$`` would also match before a final line break.
    return allowed.fullmatch(value) is None or _LONE_SURROGATE.search(value) is not None


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


class _NotNull:
    """Marker: this field may be left out, but not sent as null."""

    def __repr__(self) -> str:
        return "NotNull"


_NOT_NULL = _NotNull()
T = TypeVar("T")
Omittable = Annotated[T | None, _NOT_NULL]
"""A field of an update that may be left out (``None`` then means "not sent") but not
sent as null: ``name: Omittable[PlaceName] = None``. The OpenAPI document declares it
without null, and a null is refused with ``null_not_allowed``. A field that may be
cleared with null (a photo, a national code) is a plain ``X | None``."""

NULL_NOT_ALLOWED_MESSAGE = "Leave the field out to keep its value; it may not be null."


def _lax_scalars(annotation: Any) -> Iterator[Any]:
    """The ``bool``, ``int``, ``date`` and ``datetime`` in an annotation that Pydantic
    would take from other types (``0`` as false, ``"12"`` or ``false`` as a number, a
    number as a Unix time); one annotated with
    ``Strict()`` or a ``BeforeValidator`` is the author's decision."""
    if get_origin(annotation) is Annotated:
        base, *metadata = get_args(annotation)
        if not _takes_control(metadata):
            yield from _lax_scalars(base)
        return
    if annotation in (bool, int, date, datetime):
        yield annotation
        return
    for arg in get_args(annotation):
        yield from _lax_scalars(arg)


def _takes_control(metadata: Any) -> bool:
    return any(isinstance(m, Strict | BeforeValidator) for m in metadata)


# Pydantic writes a bound set after a validator function (as on JsonInt) under its own
# name ("ge"), which JSON Schema does not know; the document gives it its JSON name.
_BOUND_NAMES = {
    "ge": "minimum",
    "le": "maximum",
    "gt": "exclusiveMinimum",
    "lt": "exclusiveMaximum",
    "multiple_of": "multipleOf",
}


def _name_bounds(schema: Any) -> None:
    if not isinstance(schema, dict):
        return
    if schema.get("type") in ("integer", "number"):
        for pydantic_name, json_name in _BOUND_NAMES.items():
            if pydantic_name in schema:
                schema[json_name] = schema.pop(pydantic_name)
    for option in schema.get("anyOf", ()):
        _name_bounds(option)
    _name_bounds(schema.get("items"))


def _drop_null(prop: dict[str, Any]) -> None:
    """Declare a property without its null option (and without the null default)."""
    options = [o for o in prop.get("anyOf", ()) if o != {"type": "null"}]
    if "anyOf" in prop:
        del prop["anyOf"]
        if len(options) == 1:
            prop.update(options[0])
        else:
            prop["anyOf"] = options
    if prop.get("default", ...) is None:
        del prop["default"]


def declare_no_control_characters(schema: Any) -> None:
    """Add :data:`NO_CONTROL_PATTERN` to each plain text of a JSON Schema, in place."""
    _declare_pattern(schema, NO_CONTROL_PATTERN)


def _declare_pattern(schema: Any, pattern: str) -> None:
    """Add ``pattern`` to each plain text of a JSON Schema, in place (one with a pattern,
    format or enum of its own is stricter already)."""
    if not isinstance(schema, dict) or {"pattern", "enum", "const"} & schema.keys():
        return
    # A format is a rule of its own (uuid, date, email ...), but OpenAPI's `password`
    # only asks a form to hide what is typed.
    if schema.get("format", "password") != "password":
        return
    if schema.get("type") == "string":
        schema["pattern"] = pattern
    for option in schema.get("anyOf", ()):
        _declare_pattern(option, pattern)
    _declare_pattern(schema.get("items"), pattern)


def _check_text(value: Any, *, multiline: bool) -> None:
    """Refuse a body's text that breaks :data:`TEXT_PATTERN` (or its multi-line twin)."""
    if isinstance(value, str):
        if has_control_character(value, multiline=multiline):
            raise PydanticCustomError("control_character", CONTROL_CHARACTER_MESSAGE)
        if (_MULTILINE_TEXT if multiline else _TEXT).fullmatch(value) is None:
            raise PydanticCustomError("string_blank", BLANK_MESSAGE)
    elif isinstance(value, list | tuple | set | frozenset):
        for item in value:
            _check_text(item, multiline=multiline)
    elif isinstance(value, dict):
        for key, item in value.items():
            _check_text(key, multiline=False)
            _check_text(item, multiline=multiline)


class RequestModel(BaseModel):
    """Request bodies refuse unknown fields: a client can never slip in a role, a
    balance, an owner or a municipality that is not its to set (OWASP API3).

    Every text in a request body, in every field of every subclass, is taken as sent
    (never trimmed) and refused with ``control_character`` when it holds a control
    character (only fields marked :data:`MultiLine` may hold line breaks and tabs), or
    with ``string_blank`` when it is only white space; the document declares both
    (:data:`TEXT_PATTERN`): a new field cannot forget it. Query, path and form values
    get the control-character check in ``core/request_guard.py``.

    A body takes each value only as the type the document declares: a field typed
    plainly ``bool``, ``int``, ``date`` or ``datetime`` (which Pydantic would fill from
    ``0``, from text or from a number of seconds) is refused when the class is made; use
    ``StrictBool``, :data:`JsonInt`, :data:`IsoDate` or :data:`UtcDatetime`. Fields
    typed :data:`Omittable` refuse null.
    """

    model_config = ConfigDict(extra="forbid")

    _multiline_fields: ClassVar[frozenset[str]] = frozenset()
    _not_null_fields: ClassVar[frozenset[str]] = frozenset()

    @classmethod
    def __pydantic_init_subclass__(cls, **kwargs: Any) -> None:
        super().__pydantic_init_subclass__(**kwargs)
        for name, field in cls.model_fields.items():
            lax = [] if _takes_control(field.metadata) else list(_lax_scalars(field.annotation))
            if lax:
                raise TypeError(
                    f"{cls.__name__}.{name}: {lax[0].__name__} would be taken from other "
                    "types; use StrictBool, JsonInt, IsoDate or UtcDatetime"
                )
        cls._multiline_fields = frozenset(
            name for name, field in cls.model_fields.items() if _is_multiline(field)
        )
        cls._not_null_fields = frozenset(
            name for name, field in cls.model_fields.items() if _NOT_NULL in field.metadata
        )

    @classmethod
    def __get_pydantic_json_schema__(
        cls, core_schema: CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        # The OpenAPI document states the rule, so that a client (or a fuzzer) knows it.
        schema = handler(core_schema)
        for name, prop in handler.resolve_ref_schema(schema).get("properties", {}).items():
            multiline = name in cls._multiline_fields
            _declare_pattern(prop, MULTILINE_TEXT_PATTERN if multiline else TEXT_PATTERN)
            _name_bounds(prop)
            if name in cls._not_null_fields:
                _drop_null(prop)
        return schema

    @field_validator("*", mode="after")
    @classmethod
    def _no_control_characters(cls, value: Any, info: ValidationInfo) -> Any:
        # Runs only for fields that were sent (defaults are not validated), so a None
        # here is a null the client sent.
        if value is None and info.field_name in cls._not_null_fields:
            raise PydanticCustomError("null_not_allowed", NULL_NOT_ALLOWED_MESSAGE)
        _check_text(value, multiline=info.field_name in cls._multiline_fields)
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


# Dates and instants as the document declares them (JSON Schema ``format: date`` and
# ``date-time``, RFC 3339): Pydantic alone would also take a number of seconds since
# 1970, a date with a time, or an instant without seconds.
_ISO_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_RFC3339_DATETIME = re.compile(
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt][0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]+)?([Zz]|[+-][0-9]{2}:[0-9]{2})"
)


def _date_text(value: Any) -> Any:
    if isinstance(value, str) and _ISO_DATE.fullmatch(value):
        return value
    if isinstance(value, date) and not isinstance(value, datetime):
        return value
    raise PydanticCustomError("date_type", "Input should be a date as YYYY-MM-DD")


def _datetime_text(value: Any) -> Any:
    if isinstance(value, datetime) or (
        isinstance(value, str) and _RFC3339_DATETIME.fullmatch(value)
    ):
        return value
    raise PydanticCustomError(
        "datetime_type", "Input should be an RFC 3339 date-time: 2026-04-01T00:00:00+09:00"
    )


def _json_integer(value: Any) -> Any:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return value  # Pydantic then refuses a fraction (int_from_float)
    raise PydanticCustomError("int_type", "Input should be an integer")


def _bool_text(value: Any) -> Any:
    if isinstance(value, bool):
        return value
    if value in ("true", "false"):
        return value == "true"
    raise PydanticCustomError("bool_type", "Input should be true or false")


JsonInt = Annotated[int, BeforeValidator(_json_integer)]
"""A body's integer as JSON Schema has it: a number without a fraction (``12`` or
``12.0``), never text (``"12"``) or a boolean, which Pydantic alone would take."""

IsoDate = Annotated[date, BeforeValidator(_date_text)]
"""A day, sent as ``YYYY-MM-DD`` text (in a body or a query) and nothing else."""

UtcDatetime = Annotated[AwareDatetime, BeforeValidator(_datetime_text), AfterValidator(_in_utc)]
"""An instant with its timezone, sent as RFC 3339 text, as the database stores it (UTC);
one that does not fit a datetime in UTC is refused with 422 instead of failing where it
is stored or compared."""

QueryBool = Annotated[bool, BeforeValidator(_bool_text)]
"""A query flag: exactly ``true`` or ``false``, as the document's boolean is written in
a URL (Pydantic alone would also take 0, 1, yes, off, t ...). Bodies use
``StrictBool``: JSON has booleans of its own."""

ShortText = Annotated[str, StringConstraints(min_length=1, max_length=200)]
LongText = Annotated[str, StringConstraints(max_length=5000), MultiLine]
