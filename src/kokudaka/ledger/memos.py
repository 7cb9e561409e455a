"""Journal memos in both languages: what an entry is for, shown in the reader's language.

An entry stores its memo as a code and parameters (``memo_code``, ``memo_params``) and,
for anyone reading the table directly, its English text (``memo``). Readers of the API
get the memo rendered in their ``Accept-Language``. Entries written before memos had a
code show their stored text as it is.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from kokudaka.core.i18n import Language

__all__ = ["MEMOS", "MEMO_MAX_LENGTH", "Memo", "render_memo"]

#: The length of the ``memo`` column; longer texts are cut with an ellipsis.
MEMO_MAX_LENGTH = 1000

# code -> (English, Japanese). A memo's ``note`` (a person's own words: the reason for a
# reversal, an approver's note) is shown as written, after the template.
MEMOS: dict[str, tuple[str, str]] = {
    "investment": (
        "Investment of {amount_yen} yen in {title}",
        "「{title}」への投資 {amount_yen}円",
    ),
    "contribution": (
        "Volunteering: {hours} h at {go_per_hour} go/h on {activity_on}, {title}",
        "ボランティア: {activity_on}「{title}」{hours}時間(1時間あたり{go_per_hour}合)",
    ),
    "reversal": ("Reversal: {reason}", "取消: {reason}"),
    "gift": (
        "Bill of {title} expired: {gift_go} go left became a gift to the farmer",
        "「{title}」の米手形の期限切れ: 残り{gift_go}合は農家への贈り物に",
    ),
    "conversion": (
        "Harvest of {title}: board of {board_go} go became a rice bill of {bill_go} go",
        "「{title}」の収穫: ボード{board_go}合が米手形{bill_go}合に",
    ),
    "hold": (
        "Redemption of {amount_go} go of the rice bill of {title} requested",
        "「{title}」の米手形{amount_go}合の引換を依頼",
    ),
    "release_cancelled": (
        "Redemption of {amount_go} go of the rice bill of {title} cancelled: back to the bill",
        "「{title}」の米手形{amount_go}合の引換を取消: 米手形に戻しました",
    ),
    "release_refused": (
        "Redemption of {amount_go} go of the rice bill of {title} refused: back to the bill",
        "「{title}」の米手形{amount_go}合の引換はお断り: 米手形に戻しました",
    ),
    "shipment": (
        "Rice of {amount_go} go for the rice bill of {title} shipped",
        "「{title}」の米手形{amount_go}合のお米を発送",
    ),
}
_NOTE = ("Note: {note}", "メモ: {note}")


def render_memo(
    code: str | None, params: Mapping[str, Any] | None, text: str, lang: Language
) -> str:
    """The memo of an entry in ``lang``; ``text`` (the stored memo) when it has no code."""
    if code is None or code not in MEMOS:
        return text
    return Memo(code, dict(params or {})).text(lang)


@dataclass(frozen=True)
class Memo:
    """Why an entry was written, as a template code and its values."""

    code: str
    params: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.code not in MEMOS:
            raise ValueError(f"memo code without a template: {self.code}")

    def text(self, lang: Language) -> str:
        english, japanese = MEMOS[self.code]
        values = {name: value for name, value in self.params.items() if name != "note"}
        text = (japanese if lang == "ja" else english).format(**values)
        note = self.params.get("note")
        if note:
            separator = "。" if lang == "ja" else ". "
            text = f"{text}{separator}{(_NOTE[1] if lang == 'ja' else _NOTE[0]).format(note=note)}"
        if len(text) > MEMO_MAX_LENGTH:
            text = text[: MEMO_MAX_LENGTH - 1] + "…"
        return text
