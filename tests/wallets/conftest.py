"""The chain tests' anvil (one per session, snapshot/revert per test), for the custody test
that spends from a custodial wallet on a real chain."""

from tests.chain.conftest import anvil, chain, deployed, minter

__all__ = ["anvil", "chain", "deployed", "minter"]
