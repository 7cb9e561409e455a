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


ShortText = Annotated[str, StringConstraints(min_length=1, max_length=200)]
LongText = Annotated[str, StringConstraints(max_length=5000)]
