"""Schemas of the ``/v1/me`` views."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import Field, StringConstraints

from kokudaka.auth.schemas import UserRead
from kokudaka.core.responses import amount_json
from kokudaka.core.schemas import Amount, RequestModel, ResponseModel
from kokudaka.supporters.prefectures import PREFECTURE_CODE_PATTERN

PrefectureCode = Annotated[str, StringConstraints(pattern=PREFECTURE_CODE_PATTERN)]


class Rank(ResponseModel):
    """An Edo-style rank by lifetime 石高 (KOKU earned, net of reversals), from 百姓
    (peasant) to 大名 (daimyo)."""

    name: str = Field(examples=["名主"])
    name_en: str = Field(examples=["village headman"])
    next_at: Amount | None = Field(description="KOKU earned needed for the next rank.")


class BalanceRead(ResponseModel):
    """What the caller holds, and the rank their lifetime 石高 gives them."""

    balance: Amount = Field(
        description="KOKU held now. It drops when boards on a harvested work become rice "
        "bills (GET /v1/me/bills), which the rank does not follow."
    )
    earned: Amount = Field(
        description="石高: KOKU earned for investments and volunteer hours, net of "
        "reversals. Converting boards into bills never lowers it."
    )
    rank: Rank = Field(description="Follows `earned`, not `balance`.")
    rice_grams: int = Field(description="What the balance is worth in rice, about 150 g a go.")


# (threshold in go, Japanese name, English name): a daimyo held at least 10,000 koku.
RANKS: tuple[tuple[int, str, str], ...] = (
    (0, "百姓", "peasant"),
    (10_000, "名主", "village headman"),
    (100_000, "庄屋", "village head"),
    (1_000_000, "旗本", "bannerman"),
    (10_000_000, "大名", "daimyo"),
)


#: What 1 合 of rice weighs, about.
GRAMS_PER_GO = 150


def _ranks(go: int) -> tuple[tuple[int, str, str], tuple[int, str, str] | None]:
    """The rank of ``go`` earned and the next one (None at the top)."""
    current = RANKS[0]
    following: tuple[int, str, str] | None = None
    for index, rank in enumerate(RANKS):
        if go >= rank[0]:
            current = rank
            following = RANKS[index + 1] if index + 1 < len(RANKS) else None
    return current, following


def rank_for(earned_go: int) -> Rank:
    """The rank of ``earned_go`` KOKU earned (the holder account's ``earned_go``)."""
    current, following = _ranks(earned_go)
    return Rank(
        name=current[1],
        name_en=current[2],
        next_at=Amount.of(following[0]) if following else None,
    )


def balance_json(go: int, earned_go: int) -> dict[str, Any]:
    """A :class:`BalanceRead` of ``go`` held and ``earned_go`` earned as its JSON object
    (``core/responses.py``): the app opens on it; a test checks it against the model."""
    current, following = _ranks(earned_go)
    return {
        "balance": amount_json(go),
        "earned": amount_json(earned_go),
        "rank": {
            "name": current[1],
            "name_en": current[2],
            "next_at": amount_json(following[0]) if following else None,
        },
        "rice_grams": go * GRAMS_PER_GO,
    }


class ProfileUpdate(RequestModel):
    """What a supporter may tell about themselves. Never required."""

    home_prefecture_code: PrefectureCode | None = Field(
        description="The prefecture the supporter lives in, as its JIS X 0401 code "
        '("01" Hokkaido … "13" Tokyo … "47" Okinawa); null to withdraw it. Towns count '
        "their relationship population (関係人口) by it, never showing it per person.",
        examples=["13"],
    )


class MeRead(UserRead):
    """The signed-in account, with what they chose to tell about themselves."""

    home_prefecture_code: str | None = Field(
        description="JIS X 0401 code of the prefecture the account holder lives in, if given."
    )
