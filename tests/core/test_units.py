"""KOKU text and Accept-Language negotiation."""

from __future__ import annotations

import pytest

from kokudaka.core.i18n import negotiate_language
from kokudaka.core.units import format_koku


@pytest.mark.parametrize(
    ("go", "text"),
    [
        (0, "0.000"),
        (1, "0.001"),
        (1234, "1.234"),
        (1000, "1.000"),
        (-1500, "-1.500"),
        (10**15, "1000000000000.000"),
    ],
)
def test_format_koku(go: int, text: str) -> None:
    assert format_koku(go) == text


@pytest.mark.parametrize(
    ("header", "language"),
    [
        (None, "ja"),
        ("en", "en"),
        ("en-US,en;q=0.9", "en"),
        ("ja-JP", "ja"),
        ("fr, en;q=0.5, ja;q=0.8", "ja"),
        ("de", "ja"),
        ("en;q=0, ja;q=0.1", "ja"),
        ("en;q=x", "ja"),
    ],
)
def test_negotiate_language(header: str | None, language: str) -> None:
    assert negotiate_language(header) == language
