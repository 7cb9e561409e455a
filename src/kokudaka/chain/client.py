"""The one object that talks to the chain: :class:`ChainClient`, the connection
(:mod:`~kokudaka.chain.connection`: provider, signers, sending, receipts) with the KOKU contract's
reads (:mod:`~kokudaka.chain.reads`), transactions (:mod:`~kokudaka.chain.transactions`) and
events (:mod:`~kokudaka.chain.events`), and the rice bills contract
(:class:`~kokudaka.chain.bills.BillsClient`) over the same connection.

What the contract is (towns as issuers, caps per season, refs per town) is in
``contracts/Koku.sol``; its names (topics, selectors, reverts) are in
:mod:`~kokudaka.chain.interface`.
"""

from __future__ import annotations

from kokudaka.chain.bills import BillsClient
from kokudaka.chain.connection import TX_GAS_CAP, Fees, PrivateKey, SignedTx
from kokudaka.chain.events import (
    AnchoredEvent,
    BurnedEvent,
    BurnSkippedEvent,
    KokuEvents,
    MintedEvent,
    MintSkippedEvent,
)
from kokudaka.chain.reads import KokuReads
from kokudaka.chain.transactions import (
    ANCHOR_GAS_LIMIT,
    BURN_BATCH_BASE_GAS,
    BURN_BATCH_ITEM_GAS,
    BURN_GAS_LIMIT,
    MAX_BATCH_SIZE,
    MAX_BURN_BATCH_SIZE,
    MINT_BATCH_BASE_GAS,
    MINT_BATCH_ITEM_GAS,
    MINT_GAS_LIMIT,
    KokuTransactions,
    burn_batch_gas_limit,
    encode_burn_batch,
    encode_mint_batch,
    mint_batch_gas_limit,
)

__all__ = [
    "ANCHOR_GAS_LIMIT",
    "BURN_BATCH_BASE_GAS",
    "BURN_BATCH_ITEM_GAS",
    "BURN_GAS_LIMIT",
    "MAX_BATCH_SIZE",
    "MAX_BURN_BATCH_SIZE",
    "MINT_BATCH_BASE_GAS",
    "MINT_BATCH_ITEM_GAS",
    "MINT_GAS_LIMIT",
    "TX_GAS_CAP",
    "AnchoredEvent",
    "BurnSkippedEvent",
    "BurnedEvent",
    "ChainClient",
    "Fees",
    "MintSkippedEvent",
    "MintedEvent",
    "PrivateKey",
    "SignedTx",
    "burn_batch_gas_limit",
    "encode_burn_batch",
    "encode_mint_batch",
    "mint_batch_gas_limit",
]


class ChainClient(KokuReads, KokuTransactions, KokuEvents):
    """Web3 provider, local signers and the KOKU contract: reads, transactions and events; and
    the rice bills contract beside it (:attr:`bills`)."""

    _bills: BillsClient | None = None

    @property
    def bills(self) -> BillsClient:
        """The rice bills contract over this connection: the same signers, so a town's KOKU
        burns and bill mints share its minter's nonces (no address until :meth:`use_bills`)."""
        if self._bills is None:
            self._bills = BillsClient(self)
        return self._bills

    def use_bills(self, address: str) -> None:
        """Point :attr:`bills` at the bills contract at ``address`` (does not check the code)."""
        self.bills.use(address)

    @property
    def has_bills(self) -> bool:
        """Whether :attr:`bills` has a contract address."""
        return self._bills is not None and self._bills._contract is not None
