"""A supporter reads why each line of their ledger was written in their own language."""

from __future__ import annotations

import pytest

from kokudaka.ledger.memos import MEMOS, Memo, render_memo
from tests.core.test_i18n import _latin_words
from tests.investments.test_investments import invest
from tests.world import World


@pytest.mark.parametrize("code", sorted(MEMOS))
def test_every_memo_has_japanese_without_english_words(code: str) -> None:
    english, japanese = MEMOS[code]
    assert english.strip()
    assert _latin_words(japanese) == [], japanese


def test_the_ledger_shows_memos_in_the_readers_language(world: World) -> None:
    created = invest(world, world.alice.headers, world.a.work_id, 1_000).json()
    confirmed = world.client.post(
        f"/v1/investments/{created['id']}/confirm",
        json={"payment_reference": "furikomi-memo"},
        headers=world.a.admin.headers,
    )
    assert confirmed.status_code == 200, confirmed.text
    entry_id = confirmed.json()["issuance"]["entry_id"]
    reversed_ = world.client.post(
        f"/v1/ledger/entries/{entry_id}/reverse",
        json={"reason": "振込の取消"},
        headers={**world.a.admin.headers, "Accept-Language": "ja"},
    )
    assert reversed_.status_code == 201, reversed_.text
    assert reversed_.json()["memo"] == "取消: 振込の取消"

    def memos(language: str) -> list[str]:
        page = world.client.get(
            "/v1/me/ledger", headers={**world.alice.headers, "Accept-Language": language}
        )
        assert page.status_code == 200, page.text
        return [line["memo"] for line in page.json()["items"]]

    japanese = memos("ja")
    assert japanese[0] == "取消: 振込の取消"
    assert japanese[1].startswith("「")
    assert japanese[1].endswith("」への投資 1000円")
    english = memos("en")
    assert english[0] == "Reversal: 振込の取消"
    assert english[1].startswith("Investment of 1000 yen in ")


def test_an_entry_written_before_memos_had_a_code_shows_its_text() -> None:
    assert render_memo(None, None, "old memo", "ja") == "old memo"
    note = Memo("reversal", {"reason": "x", "note": "y"})
    assert note.text("ja") == "取消: x。メモ: y"
    with pytest.raises(ValueError, match="without a template"):
        Memo("gadget")
