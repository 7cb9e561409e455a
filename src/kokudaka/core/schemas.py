"""Base classes for API schemas, shared by every domain."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from kokudaka.core.units import format_koku


class RequestModel(BaseModel):
    """Request bodies refuse unknown fields: a client can never slip in a role, a
    balance, an owner or a municipality that is not its to set (OWASP API3)."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


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


ShortText = Annotated[str, StringConstraints(min_length=1, max_length=200)]
LongText = Annotated[str, StringConstraints(max_length=5000)]
