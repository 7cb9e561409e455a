"""In production the admin key is cold: ``serve`` and ``worker`` refuse to start with it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from kokudaka import cli
from kokudaka.chain.devkeys import ANVIL_DEV_KEYS
from kokudaka.core.settings import Environment, Settings, get_settings

PRODUCTION = {
    "KOKUDAKA_ENV": "production",
    "KOKUDAKA_JWT_SECRET": "a-production-jwt-secret-of-enough-length-0123",
    "KOKUDAKA_PAYMENT_WEBHOOK_SECRET": "a-production-webhook-secret",
    "KOKUDAKA_WALLET_ENCRYPTION_KEY": "a-production-wallet-encryption-key",
    "KOKUDAKA_ANCHOR_KEY": "0x" + "44" * 32,
}


@pytest.fixture
def production(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    for name, value in PRODUCTION.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("KOKUDAKA_DATA_DIR", str(tmp_path))
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


@pytest.mark.parametrize("command", ["serve", "worker"])
def test_serve_and_worker_refuse_the_admin_key_in_production(
    production: None,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    command: str,
) -> None:
    monkeypatch.setenv("KOKUDAKA_DEPLOYER_KEY", "0x" + "11" * 32)
    assert cli.main([command]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1
    assert err[0].startswith(f"kokudaka {command}: KOKUDAKA_DEPLOYER_KEY is set")
    # Refused before anything was touched: no database was made.
    assert not (get_settings().data_dir / "kokudaka.db").exists()


def test_production_needs_the_anchor_key_but_not_the_admin_key() -> None:
    base = {
        "env": Environment.production,
        "jwt_secret": PRODUCTION["KOKUDAKA_JWT_SECRET"],
        "payment_webhook_secret": PRODUCTION["KOKUDAKA_PAYMENT_WEBHOOK_SECRET"],
        "wallet_encryption_key": PRODUCTION["KOKUDAKA_WALLET_ENCRYPTION_KEY"],
    }
    accepted = Settings(**base, anchor_key="0x" + "44" * 32)  # type: ignore[arg-type]
    assert accepted.deployer_key == ""
    with pytest.raises(ValueError, match="KOKUDAKA_ANCHOR_KEY"):
        Settings(**base)  # type: ignore[arg-type]
    for field in ("anchor_key", "deployer_key"):
        keys = {"anchor_key": "0x" + "44" * 32, field: ANVIL_DEV_KEYS[1]}
        with pytest.raises(ValueError, match="anvil development keys refused"):
            Settings(**base, **keys)  # type: ignore[arg-type]
    assert not hasattr(accepted, "minter_key")
