"""What a notice looks like to its reader."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from pydantic import Field

from kokudaka.core.i18n import Language
from kokudaka.core.schemas import ResponseModel
from kokudaka.models import NoticeKind

# kind -> (English, Japanese), filled with the notice's params.
TEXTS: dict[NoticeKind, tuple[str, str]] = {
    NoticeKind.bill_expires_in_30_days: (
        "Your rice bill of {title} expires on {expires_on}: {left_go} go left to redeem.",
        "「{title}」の米手形は{expires_on}に期限を迎えます。引き換えできる残りは{left_go}合です。",
    ),
    NoticeKind.bill_expires_in_7_days: (
        "A week left: your rice bill of {title} expires on {expires_on}, with {left_go} go "
        "left to redeem.",
        "あと1週間です。「{title}」の米手形は{expires_on}に期限を迎えます(残り{left_go}合)。",
    ),
    NoticeKind.bill_gifted: (
        "Your rice bill of {title} expired; the {gift_go} go left became a gift to the farmer. "
        "Thank you for your support.",
        "「{title}」の米手形は期限を迎え、残りの{gift_go}合は農家への贈り物になりました。"
        "ご支援ありがとうございました。",
    ),
}


def notice_text(kind: NoticeKind, params: dict[str, Any], language: Language) -> str:
    english, japanese = TEXTS[kind]
    return (japanese if language == "ja" else english).format(**params)


class NoticeRead(ResponseModel):
    id: uuid.UUID
    kind: NoticeKind
    subject_id: uuid.UUID = Field(description="What it is about: the bill, for bill notices.")
    text: str = Field(description="In the reader's language (Accept-Language).")
    params: dict[str, Any] = Field(description="The values in the text, for the app's own use.")
    created_at: datetime
    read_at: datetime | None
