"""Settings: paths are resolved once, when the settings are read."""

from __future__ import annotations

from pathlib import Path

import pytest

from kokudaka.core.settings import Settings
from kokudaka.settlement.runtime import managed_anvil


def test_the_default_data_dir_is_made_absolute_against_the_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("KOKUDAKA_DATA_DIR", raising=False)
    monkeypatch.delenv("KOKUDAKA_DATABASE_URL", raising=False)
    monkeypatch.chdir(tmp_path)
    settings = Settings()
    assert settings.data_dir == tmp_path.resolve() / "data"
    assert settings.sqlalchemy_url == f"sqlite:///{tmp_path.resolve()}/data/kokudaka.db"

    # Everything derived from it names the same place from any other directory.
    monkeypatch.chdir("/")
    node = managed_anvil(settings)
    assert node.data_dir == tmp_path.resolve() / "data" / "chain"
    assert node.state_file == node.data_dir / "anvil-state.json"
    assert f"--state {node.state_file}" in " ".join(node.command())
