"""The files that set up a fresh machine install exactly what was locked."""

from __future__ import annotations

import json
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _lock() -> dict[str, dict[str, object]]:
    packages: dict[str, dict[str, object]] = json.loads(
        (ROOT / "package-lock.json").read_text(encoding="utf-8")
    )["packages"]
    return packages


def _resolves(packages: dict[str, dict[str, object]], owner: str, name: str) -> bool:
    # npm resolves a dependency in the owner's own node_modules first, then upwards.
    prefix = owner
    while True:
        candidate = f"{prefix}/node_modules/{name}" if prefix else f"node_modules/{name}"
        if candidate in packages:
            return True
        if not prefix:
            return False
        parent, _, _ = prefix.rpartition("/node_modules/")
        prefix = parent if parent != prefix else ""


def test_every_optional_platform_package_is_locked() -> None:
    """`npm ci` refuses a lock that leaves out another platform's optional package (the
    anvil binaries for macOS and Windows), so every one must be listed with its hash."""
    packages = _lock()
    missing = [
        f"{owner or '<root>'} -> {name}"
        for owner, meta in packages.items()
        for name in dict(meta.get("optionalDependencies", {}))  # type: ignore[call-overload]
        if not _resolves(packages, owner, name)
    ]
    assert missing == []
    anvil = packages["node_modules/@foundry-rs/anvil"]
    for platform in dict(anvil["optionalDependencies"]):  # type: ignore[call-overload]
        assert packages[f"node_modules/{platform}"].get("integrity")


def test_the_lock_matches_package_json() -> None:
    manifest = json.loads((ROOT / "package.json").read_text(encoding="utf-8"))
    root = _lock()[""]
    assert root["dependencies"] == manifest["dependencies"]


def test_setup_and_docker_install_with_npm_ci() -> None:
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    dockerfile = (ROOT / "Dockerfile").read_text(encoding="utf-8")
    assert "npm ci" in makefile
    assert "npm install" not in makefile.replace("npm ci", "")
    assert "npm ci" in dockerfile
