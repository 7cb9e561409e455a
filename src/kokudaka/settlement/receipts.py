"""Reading what the chain did with sent transactions: receipts (fetched in parallel, and
prefetched while the next batch is claimed), the block a transaction is in, and the
``Minted``/``Burned`` (KOKU) and ``BillMinted``/``BillBurned`` (rice bills) events of references
settled by another transaction: a batch item skipped on chain (``MintSkipped``, ``BurnSkipped``,
``BillMintSkipped``, ``BillBurnSkipped``) is confirmed by the transaction that did it."""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

from sqlalchemy import select

from kokudaka.chain.bills_interface import BILL_BURNED_TOPIC, BILL_MINTED_TOPIC
from kokudaka.chain.client import ChainClient
from kokudaka.chain.deployment import DeploymentMismatch
from kokudaka.chain.errors import ChainError, TransactionReverted
from kokudaka.chain.interface import ALREADY_BURNED, BURNED_TOPIC, MINTED_TOPIC
from kokudaka.models import ChainDeployment, ChainOperation
from kokudaka.settlement.outcomes import Mined, Reverted, Submitted
from kokudaka.settlement.sessions import SettlementSessions

__all__ = ["ChainReader"]

#: The events of an item a transaction itself settled (a skipped one names another's).
_SETTLING_TOPICS = frozenset({MINTED_TOPIC, BURNED_TOPIC, BILL_MINTED_TOPIC, BILL_BURNED_TOPIC})


class ChainReader:
    """Reads receipts and events of one town's transactions on one deployment, with a pool of
    request threads (its own, or one shared by the towns' workers)."""

    def __init__(
        self,
        client: ChainClient,
        deployment: ChainDeployment,
        sessions: SettlementSessions,
        *,
        town: bytes,
        threads: int,
        name: str,
        pool: ThreadPoolExecutor | None = None,
    ) -> None:
        self.client = client
        self.deployment = deployment
        self.sessions = sessions
        self.town = town
        """Events are read in this town's namespace only: another town may use the same ref."""
        self._owns_pool = pool is None
        self._pool = pool or ThreadPoolExecutor(max_workers=threads, thread_name_prefix=name)
        self._prefetched: dict[str, Future[dict[str, Any] | None]] = {}
        self._prefetch_checked = 0.0
        self._prefetch_head: int | None = None

    def close(self) -> None:
        if self._owns_pool:
            self._pool.shutdown(wait=False)

    def forget(self, tx_hash: str | None = None) -> None:
        """Drop a prefetched receipt (all of them without ``tx_hash``)."""
        if tx_hash is None:
            self._prefetched.clear()
        else:
            self._prefetched.pop(tx_hash, None)

    def receipts(self, hashes: Sequence[str]) -> dict[str, dict[str, Any] | None]:
        """Receipts fetched a few at a time: the node serialises a batch's hundreds of logs
        in its own threads, so parallel requests finish several times sooner."""
        found: dict[str, dict[str, Any] | None] = {}
        missing: list[str] = []
        for tx_hash in hashes:
            early = self._prefetched.pop(tx_hash, None)
            receipt = early.result() if early is not None else None
            if receipt is not None:
                found[tx_hash] = receipt
            else:
                missing.append(tx_hash)
        if len(missing) == 1:
            found[missing[0]] = self.receipt(missing[0])
        elif missing:
            found.update(zip(missing, self._pool.map(self.receipt, missing), strict=True))
        return found

    def prefetch(self, sent: Iterable[str]) -> bool:
        """While claiming: when a new block appears, start fetching the receipts of the
        transactions ``sent`` so far, so the next poll finds most of them ready. Returns
        whether a new block appeared."""
        now = time.monotonic()
        if now - self._prefetch_checked < 0.2:
            return False
        self._prefetch_checked = now
        head = self.client.block_number()
        if head == self._prefetch_head:
            return False
        new_block = self._prefetch_head is not None
        self._prefetch_head = head
        for tx_hash in sent:
            if tx_hash not in self._prefetched:
                self._prefetched[tx_hash] = self._pool.submit(self.receipt, tx_hash)
        return new_block

    def receipt(self, tx_hash: str) -> dict[str, Any] | None:
        # Raw JSON-RPC: web3's receipt formatting costs more than the request for a batch's
        # hundreds of logs.
        receipt: dict[str, Any] | None = self.client.rpc("eth_getTransactionReceipt", [tx_hash])
        return receipt

    def mined_in(self, tx_hash: str) -> int | None:
        """The block a transaction is in, or None (unknown, or back in the pool after a
        reorg). Lighter than its receipt, which carries every log of a batch."""
        tx = self.client.rpc("eth_getTransactionByHash", [tx_hash])
        block = tx.get("blockNumber") if isinstance(tx, dict) else None
        return int(block, 16) if block is not None else None

    def blocks_of(self, hashes: Sequence[str]) -> list[int | None]:
        """:meth:`mined_in` of each transaction, in parallel."""
        return list(self._pool.map(self.mined_in, hashes))

    def event_logs(
        self, topic: str, refs: Sequence[str], address: str | None = None
    ) -> dict[str, tuple[str, int]]:
        """reference -> (tx hash, block) of this town's ``Minted``/``Burned`` events of
        ``refs`` (the town is the events' third indexed topic), emitted by KOKU or the
        contract at ``address`` (``BillMinted`` and ``BillBurned`` have the same indexed fields)."""
        town = "0x" + self.town.hex()
        found: dict[str, tuple[str, int]] = {}
        for start in range(0, len(refs), 100):
            chunk = [ref.lower() for ref in refs[start : start + 100]]
            logs = self.client.rpc(
                "eth_getLogs",
                [
                    {
                        "address": address or self.deployment.token_address,
                        "topics": [topic, chunk, None, town],
                        "fromBlock": hex(self.deployment.deployed_block),
                        "toBlock": "latest",
                    }
                ],
            )
            for log in logs:
                found[log["topics"][1].lower()] = (
                    log["transactionHash"],
                    int(log["blockNumber"], 16),
                )
        return found

    def _settling_contracts(self) -> list[tuple[str, str | None]]:
        found: list[tuple[str, str | None]] = [(MINTED_TOPIC, None), (BURNED_TOPIC, None)]
        if self.deployment.bills_address is not None:
            found.append((BILL_MINTED_TOPIC, self.deployment.bills_address))
            found.append((BILL_BURNED_TOPIC, self.deployment.bills_address))
        return found

    def require_contract(self) -> None:
        if not self.client.code_exists(self.deployment.token_address):
            raise DeploymentMismatch(
                f"the chain at {self.client.rpc_url} lost the KOKU contract deployed at "
                f"{self.deployment.token_address}; refusing to diverge from the ledger"
            )

    # ------------------------------------------------------------------ what a receipt says

    def outcome(self, tx: Submitted, receipt: dict[str, Any]) -> Mined | Reverted:
        """What a mined transaction did: settled its operations (here or, for refs used
        before, in another transaction), or reverted."""
        block = int(receipt["blockNumber"], 16)
        gas_used = int(receipt["gasUsed"], 16)
        if int(receipt["status"], 16) != 1:
            return self._reverted(tx, block, gas_used)
        settled = {
            log["topics"][1].lower()
            for log in receipt["logs"]
            if log["topics"] and log["topics"][0] in _SETTLING_TOPICS
        }
        if len(settled) == tx.operation_count:
            return Mined(tx.id, tx.tx_hash, block, gas_used)
        # Some refs were settled before (a resend after a lost or replaced transaction):
        # find where, so each operation names the transaction that really minted it.
        with self.sessions.read() as session:
            refs = list(
                session.scalars(
                    select(ChainOperation.reference).where(ChainOperation.transaction_id == tx.id)
                )
            )
        missing = [ref.lower() for ref in refs if ref.lower() not in settled]
        elsewhere: dict[str, tuple[str, int]] = {}
        for topic, address in self._settling_contracts():
            if len(elsewhere) < len(missing):
                left = [ref for ref in missing if ref not in elsewhere]
                elsewhere |= self.event_logs(topic, left, address)
        if any(ref not in elsewhere for ref in missing):
            # A successful call that settled nothing: is there still a contract at the address?
            self.require_contract()
            raise ChainError(
                f"{tx.tx_hash} succeeded but settled only {len(settled)} of {len(refs)} refs"
            )
        return Mined(tx.id, tx.tx_hash, block, gas_used, elsewhere)

    def _reverted(self, tx: Submitted, block: int, gas_used: int) -> Reverted:
        formatted = self.client.get_receipt(tx.tx_hash)
        error = TransactionReverted("reverted without a known reason", tx_hash=tx.tx_hash)
        if formatted is not None:
            try:
                self.client.raise_for_receipt(formatted, context="settlement")
            except TransactionReverted as exc:
                error = exc
        already_burned = None
        if error.error_name == ALREADY_BURNED and error.error_args:
            ref = "0x" + bytes(error.error_args[0]).hex()
            already_burned = self.event_logs(BURNED_TOPIC, [ref]).get(ref)
        return Reverted(tx.id, tx.tx_hash, block, gas_used, error, already_burned)
