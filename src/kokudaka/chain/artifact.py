"""The compiled KOKU contract, as committed by ``node contracts/compile.mjs``.

The service deploys and talks to exactly the bytecode and ABI in ``artifacts/Koku.json``; CI checks
with ``node contracts/compile.mjs --check`` that this file matches ``contracts/Koku.sol``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

from eth_typing import ABI

__all__ = ["KokuArtifact", "load_koku_artifact"]


@dataclass(frozen=True, slots=True)
class KokuArtifact:
    """ABI and creation bytecode of the ``Koku`` contract, with the compiler that made them."""

    contract_name: str
    abi: ABI
    bytecode: str
    deployed_bytecode: str
    """The runtime code a deployment of this version holds (no immutables: it is exact)."""
    solc_version: str
    source_sha256: str


@cache
def load_koku_artifact() -> KokuArtifact:
    """Read the artifact shipped inside the package (once per process)."""
    text = resources.files("kokudaka.chain").joinpath("artifacts/Koku.json").read_text("utf-8")
    raw: dict[str, Any] = json.loads(text)
    return KokuArtifact(
        contract_name=raw["contractName"],
        abi=raw["abi"],
        bytecode=raw["bytecode"],
        deployed_bytecode=raw["deployedBytecode"],
        solc_version=raw["solcVersion"],
        source_sha256=raw["sourceSha256"],
    )
