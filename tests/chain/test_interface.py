"""The contract interface module matches the compiled ABI: every topic, selector, role and revert
name the service uses exists in ``artifacts/Koku.json``, and every event KOKU itself declares has
its topic here, so a change to Koku.sol that renames, re-types or adds one of them fails here
rather than as a silent miss on the chain."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from kokudaka.chain import interface
from kokudaka.chain.artifact import load_koku_artifact
from kokudaka.chain.client import ChainClient

KOKU_SOURCE = Path(__file__).resolve().parents[2] / "contracts" / "Koku.sol"


def _signatures(kind: str) -> set[str]:
    entries: list[dict[str, Any]] = [dict(e) for e in load_koku_artifact().abi]
    return {
        f"{e['name']}({','.join(p['type'] for p in e.get('inputs', []))})"
        for e in entries
        if e.get("type") == kind
    }


def _declared_in_koku(kind: str) -> set[str]:
    """Names of the events or errors Koku.sol declares itself (not those it inherits)."""
    return set(re.findall(rf"^\s*{kind}\s+(\w+)\s*\(", KOKU_SOURCE.read_text(), re.MULTILINE))


def test_every_topic_is_an_event_of_the_abi() -> None:
    topics = {interface.event_topic(signature) for signature in _signatures("event")}
    for name in dir(interface):
        if name.endswith("_TOPIC"):
            assert getattr(interface, name) in topics, name


def test_every_event_koku_declares_has_its_topic() -> None:
    by_name = {signature.split("(")[0]: signature for signature in _signatures("event")}
    declared = _declared_in_koku("event")
    assert {"Minted", "MintSkipped", "Burned", "AuditLogAnchored"} <= declared
    topics = {getattr(interface, name) for name in dir(interface) if name.endswith("_TOPIC")}
    for event in declared:
        assert interface.event_topic(by_name[event]) in topics, event


def test_every_selector_is_a_function_of_the_abi() -> None:
    selectors = {interface.selector(signature) for signature in _signatures("function")}
    for name in dir(interface):
        if name.endswith("_SELECTOR"):
            value = getattr(interface, name)
            raw = bytes.fromhex(value.removeprefix("0x")) if isinstance(value, str) else value
            assert raw in selectors, name


def test_every_revert_name_is_an_error_of_the_abi() -> None:
    errors = {signature.split("(")[0] for signature in _signatures("error")}
    named = {
        interface.ALREADY_BURNED,
        interface.ALLOWANCE_EXCEEDED,
        interface.ANCHOR_NOT_NEWER,
        *interface.PERMANENT_REVERTS,
    }
    assert named <= errors, named - errors
    assert _declared_in_koku("error") <= errors
    decoded = {name for name, _ in interface.error_specs().values()}
    assert errors <= decoded


def test_the_roles_are_the_contracts(chain: ChainClient) -> None:
    functions = chain.web3.eth.contract(
        address=chain.koku_address, abi=load_koku_artifact().abi
    ).functions
    assert functions.MINTER_ROLE().call() == interface.MINTER_ROLE
    assert functions.ANCHOR_ROLE().call() == interface.ANCHOR_ROLE
