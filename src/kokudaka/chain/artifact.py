"""The compiled contracts, as committed by ``node contracts/compile.mjs``: KOKU
(``artifacts/Koku.json``) and the rice bills (``artifacts/KokuBills.json``).

The service deploys and talks to exactly the bytecode and ABI in these files; CI checks with
``node contracts/compile.mjs --check`` that they match ``contracts/<Contract>.sol``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

from eth_typing import ABI

__all__ = [
    "ContractArtifact",
    "KokuArtifact",
    "load_artifact",
    "load_bills_artifact",
    "load_koku_artifact",
]


@dataclass(frozen=True, slots=True)
class ContractArtifact:
    """ABI and creation bytecode of one contract, with the compiler that made them."""

    contract_name: str
    abi: ABI
    bytecode: str
    deployed_bytecode: str
    """The runtime code a deployment of this version holds (no immutables: it is exact)."""
    solc_version: str
    source_sha256: str


KokuArtifact = ContractArtifact
"""The name the KOKU code has always used."""


@cache
def load_artifact(contract: str) -> ContractArtifact:
    """Read ``artifacts/<contract>.json`` shipped inside the package (once per process)."""
    path = f"artifacts/{contract}.json"
    text = resources.files("kokudaka.chain").joinpath(path).read_text("utf-8")
    raw: dict[str, Any] = json.loads(text)
    return ContractArtifact(
        contract_name=raw["contractName"],
        abi=raw["abi"],
        bytecode=raw["bytecode"],
        deployed_bytecode=raw["deployedBytecode"],
        solc_version=raw["solcVersion"],
        source_sha256=raw["sourceSha256"],
    )


def load_koku_artifact() -> ContractArtifact:
    """The KOKU contract (``contracts/Koku.sol``)."""
    return load_artifact("Koku")


def load_bills_artifact() -> ContractArtifact:
    """The rice bills contract (``contracts/KokuBills.sol``)."""
    return load_artifact("KokuBills")
