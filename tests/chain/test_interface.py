"""The contract interface module matches the compiled ABI: every topic, selector and revert
name the service uses exists in ``artifacts/Koku.json``, so a change to Koku.sol that renames
or re-types one of them fails here rather than as a silent miss on the chain."""

from __future__ import annotations

from typing import Any

from kokudaka.chain import interface
from kokudaka.chain.artifact import load_koku_artifact


def _signatures(kind: str) -> set[str]:
    entries: list[dict[str, Any]] = [dict(e) for e in load_koku_artifact().abi]
    return {
        f"{e['name']}({','.join(p['type'] for p in e.get('inputs', []))})"
        for e in entries
        if e.get("type") == kind
    }


def test_every_topic_is_an_event_of_the_abi() -> None:
    topics = {interface.event_topic(signature) for signature in _signatures("event")}
    for name in dir(interface):
        if name.endswith("_TOPIC"):
            assert getattr(interface, name) in topics, name


def test_every_selector_is_a_function_of_the_abi() -> None:
    selectors = {interface.selector(signature) for signature in _signatures("function")}
    for name in dir(interface):
        if name.endswith("_SELECTOR"):
            value = getattr(interface, name)
            raw = bytes.fromhex(value.removeprefix("0x")) if isinstance(value, str) else value
            assert raw in selectors, name


def test_every_revert_name_is_an_error_of_the_abi() -> None:
    errors = {signature.split("(")[0] for signature in _signatures("error")}
    named = {interface.ALREADY_BURNED, interface.ALLOWANCE_EXCEEDED, *interface.PERMANENT_REVERTS}
    assert named <= errors, named - errors
    decoded = {name for name, _ in interface.error_specs().values()}
    assert errors <= decoded
