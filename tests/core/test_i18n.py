"""Every message a user can see exists in Japanese and English, and the Japanese has no
English words in it."""

from __future__ import annotations

import re
import uuid
from pathlib import Path

import pytest

from kokudaka.core.errors import NotFound
from kokudaka.core.i18n import FIELD_ERRORS_JA, MESSAGES, TERMS
from tests.investments.test_investments import invest
from tests.world import World, assert_problem

SRC = Path(__file__).resolve().parents[2] / "src" / "kokudaka"

# Technical names a Japanese user reads as they are.
_ALLOWED_LATIN = re.compile(
    r"\{[a-z_]+\}|Webhook|Idempotency-Key|UUID|JSON|URL|ID|ISO 8601|YYYY-MM-DD|true|false"
    r"|KOKU|\([a-z_]+\)"
)


def _latin_words(japanese: str) -> list[str]:
    return re.findall(r"[A-Za-z]{2,}", _ALLOWED_LATIN.sub("", japanese))


@pytest.mark.parametrize("code", sorted(MESSAGES))
def test_every_message_has_japanese_without_english_words(code: str) -> None:
    english, japanese = MESSAGES[code]
    assert english.strip()
    assert japanese.strip()
    assert _latin_words(japanese) == [], japanese
    # The same placeholders in both languages, so neither loses a number.
    assert set(re.findall(r"\{(\w+)\}", english)) == set(re.findall(r"\{(\w+)\}", japanese))


def test_field_messages_and_terms_are_japanese() -> None:
    for text in [*FIELD_ERRORS_JA.values(), *TERMS.values()]:
        assert _latin_words(text) == [], text


def test_every_resource_the_code_can_name_is_translated() -> None:
    named = {
        name
        for path in SRC.rglob("*.py")
        for name in re.findall(r'NotFound\(\s*"([^"]+)"', path.read_text(encoding="utf-8"))
    }
    assert named, "the scan found no NotFound in the source"
    assert named <= set(TERMS), named - set(TERMS)
    with pytest.raises(ValueError, match="without a Japanese name"):
        NotFound("Gadget")


def _ja(world: World, headers: dict[str, str]) -> dict[str, str]:
    return {**headers, "Accept-Language": "ja"}


def test_not_found_names_the_thing_in_japanese(world: World) -> None:
    missing = world.client.get(f"/v1/works/{uuid.uuid4()}", headers=_ja(world, world.alice.headers))
    assert_problem(missing, 404, "not_found")
    assert missing.json()["detail"] == "作品が見つかりません。"
    page = world.client.get("/v1/nowhere", headers={"Accept-Language": "ja"})
    assert page.json()["detail"] == "ページが見つかりません。"
    english = world.client.get(f"/v1/works/{uuid.uuid4()}", headers=world.alice.headers)
    assert english.json()["detail"] == "Work not found."


def test_field_errors_follow_the_language(world: World) -> None:
    body = {"work_id": "not-a-uuid", "amount_yen": -5}
    for language, expected in (("ja", "UUIDの形式で指定してください。"), ("en", "UUID")):
        response = world.client.post(
            "/v1/investments",
            json=body,
            headers={
                **world.alice.headers,
                "Idempotency-Key": uuid.uuid4().hex,
                "Accept-Language": language,
            },
        )
        assert_problem(response, 422, "validation_error")
        messages = {tuple(e["loc"]): e["msg"] for e in response.json()["errors"]}
        assert expected in messages[("body", "work_id")]
        if language == "ja":
            assert all(_latin_words(text) == [] for text in messages.values()), messages


def test_a_state_conflict_names_the_state_in_japanese(world: World) -> None:
    created = invest(world, world.alice.headers, world.a.work_id, 1_000).json()
    confirm = f"/v1/investments/{created['id']}/confirm"
    payment = {"payment_reference": "furikomi-ja"}
    assert world.client.post(confirm, json=payment, headers=world.a.admin.headers).is_success
    again = world.client.post(confirm, json=payment, headers=_ja(world, world.a.admin.headers))
    assert_problem(again, 409, "investment_not_pending")
    assert again.json()["detail"] == "この投資は確定済みの状態で、入金待ちではありません。"


def test_the_services_own_field_errors_have_japanese_messages() -> None:
    """Every error type the schemas raise themselves has its own Japanese message, not
    the generic fallback."""
    raised = {
        name
        for path in SRC.rglob("*.py")
        for name in re.findall(
            r'PydanticCustomError\(\s*"([a-z_]+)"', path.read_text(encoding="utf-8")
        )
    }
    assert raised, "the scan found no PydanticCustomError in the source"
    assert raised <= set(FIELD_ERRORS_JA), raised - set(FIELD_ERRORS_JA)
