"""The rice bills contract (米手形, ``contracts/KokuBills.sol``) through a chain connection:
deployment and the admin's calls (sent and awaited), the town minters' registrations, mints and
burns (signed offline, like KOKU's), and reads.

:class:`BillsClient` shares a :class:`~kokudaka.chain.connection.ChainConnection` (its provider,
signers, chain id and error mapping) rather than opening one of its own, so a settlement worker
signs a town's KOKU burns and bill mints with the same key and the same nonce stream. Events
are in :mod:`kokudaka.chain.bills_events`.

A bill's token id is its work's UUID read as a ``uint256`` (:func:`bill_token_id`); towns and refs
are the 32-byte forms of :mod:`kokudaka.chain.refs`; amounts are integer 合 (go).

Gas limits are computed from measured worst cases (``bench/bills_gas.py``), never estimated, so a
transaction can be signed offline against a state that changes before it is mined.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Final

from eth_abi.abi import encode
from eth_typing import ChecksumAddress
from eth_utils.address import to_checksum_address
from web3.contract import Contract

from kokudaka.chain.artifact import load_bills_artifact
from kokudaka.chain.bills_events import BillsEvents
from kokudaka.chain.bills_interface import (
    BURN_BATCH_SELECTOR,
    BURN_WITH_REFERENCE_SELECTOR,
    MINT_BATCH_SELECTOR,
    REGISTER_WORK_SELECTOR,
)
from kokudaka.chain.connection import (
    TX_GAS_CAP,
    ChainConnection,
    Fees,
    PrivateKey,
    SignedTx,
    hex0x,
    require_address,
    require_amount,
    require_ref,
)
from kokudaka.chain.errors import ChainError, ContractMissing, map_chain_error
from kokudaka.chain.transactions import (
    address_word,
    encode_word_arrays,
    require_season,
    uint_word,
)

__all__ = [
    "BILL_BURN_BATCH_BASE_GAS",
    "BILL_BURN_BATCH_ITEM_GAS",
    "BILL_BURN_GAS_LIMIT",
    "BILL_MAX_BATCH_SIZE",
    "BILL_MAX_BURN_BATCH_SIZE",
    "BILL_MINT_BATCH_BASE_GAS",
    "BILL_MINT_BATCH_ITEM_GAS",
    "BILL_MINT_BATCH_RUN_GAS",
    "REGISTER_WORK_GAS_LIMIT",
    "BillWork",
    "BillsClient",
    "bill_burn_batch_gas_limit",
    "bill_mint_batch_gas_limit",
    "bill_token_id",
    "encode_bill_burn_batch",
    "encode_bill_mint_batch",
    "work_runs",
]

# Measured with bench/bills_gas.py (anvil 1.7.1, solc 0.8.28, optimizer 200 runs): gas needed
# (eth_estimateGas, which counts what a refund later gives back). A mint item within a run of one
# work costs 53,376 at worst (a fresh ref and a holder with no bill of the work: two words written
# from zero, the TransferSingle and BillMinted logs, an amount of 12 non-zero bytes); 35,811 to an
# existing holder, 5,744 skipped. Each run of consecutive items of one work adds 29,770 at worst
# (the work's two words read, its minted total rewritten, its total supply written from zero on
# its first mint). The fixed part is 50,637 for the first batch on a fresh contract (the supply of
# all works leaving zero). The largest batch, 189 items each its own work's first mint, needs
# 15,821,491 of its 16,712,000. A burn needs 77,673 at worst, a burnBatch item 47,084 (each of
# its own work, emptying the holder's balance), registerWork 79,806 for a new work.
#: Fixed part of a ``mintBatch`` (50,637 measured, the first on a fresh contract).
BILL_MINT_BATCH_BASE_GAS: Final = 80_000
#: Worst case per item within a run of one work (53,376 measured).
BILL_MINT_BATCH_ITEM_GAS: Final = 56_000
#: Worst case per run of consecutive items of one work (29,770 measured).
BILL_MINT_BATCH_RUN_GAS: Final = 32_000
#: Largest batch whose limit stays under the per-transaction cap even with one run per item
#: (189); a batch of one work may hold more (:func:`bill_mint_batch_gas_limit` decides).
BILL_MAX_BATCH_SIZE: Final = (TX_GAS_CAP - BILL_MINT_BATCH_BASE_GAS) // (
    BILL_MINT_BATCH_ITEM_GAS + BILL_MINT_BATCH_RUN_GAS
)
#: ``registerWork`` (79,806 measured for a new work: two words written from zero).
REGISTER_WORK_GAS_LIMIT: Final = 90_000
#: A single ``burnWithReference`` (77,673 measured: a fresh burn ref written from zero).
BILL_BURN_GAS_LIMIT: Final = 90_000
#: Fixed part (30,469 measured) and worst case per item (47,084) of a ``burnBatch``.
BILL_BURN_BATCH_BASE_GAS: Final = 40_000
BILL_BURN_BATCH_ITEM_GAS: Final = 50_000
#: Largest ``burnBatch`` whose limit stays under the per-transaction cap (334).
BILL_MAX_BURN_BATCH_SIZE: Final = (
    TX_GAS_CAP - BILL_BURN_BATCH_BASE_GAS
) // BILL_BURN_BATCH_ITEM_GAS

_ADMIN_TIMEOUT: Final = 60.0


def bill_token_id(work_id: uuid.UUID) -> int:
    """A work's bill token id: its UUID read as a ``uint256`` (how its refs encode it too)."""
    if work_id.int == 0:
        raise ValueError("the nil UUID cannot be a work's token id")
    return work_id.int


def _require_work(work_id: int) -> int:
    if isinstance(work_id, bool) or not isinstance(work_id, int) or not 0 < work_id < 2**256:
        raise ValueError(f"a work's token id is a positive uint256, got {work_id!r}")
    return work_id


def work_runs(work_ids: Sequence[int]) -> int:
    """How many runs of consecutive equal ids ``work_ids`` has: the contract checks and writes
    each work's cap once per run, so a batch sorted by work costs the least."""
    return sum(1 for i, work in enumerate(work_ids) if i == 0 or work != work_ids[i - 1])


def bill_mint_batch_gas_limit(items: int, runs: int) -> int:
    """A gas limit that covers a ``mintBatch`` of ``items`` in ``runs`` runs of one work each."""
    if items < 1 or not 1 <= runs <= items:
        raise ValueError(f"a batch has at least one item and 1..items runs: {items}, {runs}")
    return (
        BILL_MINT_BATCH_BASE_GAS + items * BILL_MINT_BATCH_ITEM_GAS + runs * BILL_MINT_BATCH_RUN_GAS
    )


def bill_burn_batch_gas_limit(items: int) -> int:
    """A gas limit that covers a ``burnBatch`` of ``items`` in the worst case."""
    if items < 1:
        raise ValueError("a batch has at least one item")
    return BILL_BURN_BATCH_BASE_GAS + items * BILL_BURN_BATCH_ITEM_GAS


def _same_lengths(*columns: Sequence[Any]) -> int:
    size = len(columns[0])
    if any(len(column) != size for column in columns):
        raise ValueError(f"batch columns differ in length: {[len(c) for c in columns]}")
    return size


def encode_bill_mint_batch(
    work_ids: Sequence[int],
    recipients: Sequence[str],
    amounts: Sequence[int],
    refs: Sequence[bytes],
) -> bytes:
    """Calldata of ``mintBatch(workIds, recipients, amounts, refs)``, validated item by item
    (laid out by hand: eth_abi took most of a settlement worker's CPU per bill)."""
    _same_lengths(work_ids, recipients, amounts, refs)
    return encode_word_arrays(
        MINT_BATCH_SELECTOR,
        [],
        [_require_work(w).to_bytes(32, "big") for w in work_ids],
        [address_word(r) for r in recipients],
        [uint_word(a) for a in amounts],
        [require_ref(r) for r in refs],
    )


def encode_bill_burn_batch(
    holders: Sequence[str],
    work_ids: Sequence[int],
    amounts: Sequence[int],
    refs: Sequence[bytes],
    issuance_refs: Sequence[bytes],
) -> bytes:
    """Calldata of ``burnBatch(holders, workIds, amounts, refs, issuanceRefs)``, validated item
    by item and laid out by hand like :func:`encode_bill_mint_batch` (expiry gifts burn a whole
    season's bills at once)."""
    _same_lengths(holders, work_ids, amounts, refs, issuance_refs)
    return encode_word_arrays(
        BURN_BATCH_SELECTOR,
        [],
        [address_word(h) for h in holders],
        [_require_work(w).to_bytes(32, "big") for w in work_ids],
        [uint_word(a) for a in amounts],
        [require_ref(r) for r in refs],
        [require_ref(r) for r in issuance_refs],
    )


@dataclass(frozen=True, slots=True)
class BillWork:
    """A work as the bills contract knows it: registered to ``town`` (None: to no town) for
    ``season``, with a cap of ``cap`` go of which ``minted`` were minted."""

    town: bytes | None
    season: int
    cap: int
    minted: int


class BillsClient(BillsEvents):
    """The rice bills contract over a shared :class:`ChainConnection`."""

    def __init__(self, connection: ChainConnection, address: str | None = None) -> None:
        self.connection = connection
        self.artifact = load_bills_artifact()
        self._contract: Contract | None = None
        if address is not None:
            self.use(address)

    # ------------------------------------------------------------ the contract

    @property
    def address(self) -> ChecksumAddress:
        """Address of the bills contract this client uses."""
        return self._bills().address

    def use(self, address: str) -> None:
        """Point this client at the bills contract at ``address`` (does not check the code)."""
        self._contract = self.connection.web3.eth.contract(
            address=to_checksum_address(require_address(address)), abi=self.artifact.abi
        )

    def runs_this_version(self, address: str) -> bool:
        """Whether the code at ``address`` is this version's bills contract."""
        expected = self.artifact.deployed_bytecode.removeprefix("0x")
        try:
            code = self.connection.web3.eth.get_code(to_checksum_address(require_address(address)))
        except ValueError:
            raise
        except Exception as exc:
            raise map_chain_error(exc, context="eth_getCode") from exc
        return bytes(code) == bytes.fromhex(expected)

    def _bills(self) -> Contract:
        if self._contract is None:
            raise ContractMissing("no bills contract address configured: deploy or configure one")
        return self._contract

    def _call(self, function: str, *args: Any) -> Any:
        try:
            return self._bills().functions[function](*args).call()
        except Exception as exc:
            raise map_chain_error(exc, context=function) from exc

    # ------------------------------------------------------------ the admin (synchronous)

    def deploy(
        self,
        deployer_key: PrivateKey,
        *,
        admin: str | None = None,
        admin_delay: int = 0,
        uri: str = "",
        timeout: float = _ADMIN_TIMEOUT,
    ) -> ChecksumAddress:
        """Deploy the bills contract (admin = ``admin`` or the deployer) and start using it.

        ``uri`` is the ERC-1155 metadata URI template (``{id}``: the work id in 64 hex digits).
        """
        conn = self.connection
        admin_address = to_checksum_address(
            require_address(admin or conn.account(deployer_key).address)
        )
        if not 0 <= admin_delay < 2**48:
            raise ValueError(f"the admin delay is a uint48 of seconds, got {admin_delay!r}")
        args = encode(["string", "uint48", "address"], [uri, admin_delay, admin_address])
        data = self.artifact.bytecode + args.hex()
        receipt = conn._transact(deployer_key, None, data, context="deploy bills", timeout=timeout)
        address = receipt.get("contractAddress")
        if address is None:
            raise ChainError("deployment receipt has no contract address")
        self.use(address)
        return to_checksum_address(address)

    def set_town_minter(self, admin_key: PrivateKey, town: bytes, minter: str) -> str:
        """Make ``minter`` the minter of ``town`` (its previous one loses the role); tx hash."""
        minter_address = to_checksum_address(require_address(minter))
        return self._admin_call(admin_key, "setTownMinter", [require_ref(town), minter_address])

    def remove_town_minter(self, admin_key: PrivateKey, town: bytes) -> str:
        """Leave ``town`` without a minter; returns the tx hash."""
        return self._admin_call(admin_key, "removeTownMinter", [require_ref(town)])

    def set_season_cap(self, admin_key: PrivateKey, town: bytes, season: int, cap: int) -> str:
        """Set ``town``'s bill allowance for ``season`` to ``cap`` go (absolute); tx hash."""
        if isinstance(cap, bool) or not isinstance(cap, int) or cap < 0:
            raise ValueError(f"a cap is a non-negative integer of go, got {cap!r}")
        return self._admin_call(
            admin_key, "setSeasonCap", [require_ref(town), require_season(season), cap]
        )

    def release_work(self, admin_key: PrivateKey, work_id: int) -> str:
        """Unbind ``work_id`` from the town that registered it; returns the tx hash."""
        return self._admin_call(admin_key, "releaseWork", [_require_work(work_id)])

    def set_uri(self, admin_key: PrivateKey, uri: str) -> str:
        """Set the metadata URI template of every bill; returns the tx hash."""
        return self._admin_call(admin_key, "setURI", [uri])

    def _admin_call(self, admin_key: PrivateKey, function: str, args: list[object]) -> str:
        data = self._bills().encode_abi(function, args)
        receipt = self.connection._transact(
            admin_key, self.address, data, context=function, timeout=_ADMIN_TIMEOUT
        )
        return hex0x(receipt["transactionHash"])

    # ------------------------------------------------------------ the towns' keys (offline)

    def build_register_work_tx(
        self,
        minter_key: PrivateKey,
        work_id: int,
        season: int,
        cap: int,
        nonce: int,
        gas: int = REGISTER_WORK_GAS_LIMIT,
        fees: Fees | None = None,
    ) -> SignedTx:
        """Sign ``registerWork(work_id, season, cap)``: the work's bills, ``cap`` go in all, are
        its town's, taken from the town's allowance for ``season``. Absolute, so a resend is
        harmless; sign it before the work's first mint batch (the next nonce orders them)."""
        data = REGISTER_WORK_SELECTOR + encode(
            ["uint256", "uint16", "uint256"],
            [_require_work(work_id), require_season(season), require_amount(cap)],
        )
        return self._sign(minter_key, data, nonce, gas, fees)

    def build_mint_batch_tx(
        self,
        minter_key: PrivateKey,
        work_ids: Sequence[int],
        recipients: Sequence[str],
        amounts: Sequence[int],
        refs: Sequence[bytes],
        nonce: int,
        gas: int | None = None,
        fees: Fees | None = None,
    ) -> SignedTx:
        """Sign ``mintBatch``: ``amounts[i]`` go of ``work_ids[i]`` to ``recipients[i]`` for the
        bill issuance ``refs[i]``; refs the town minted before are skipped by the contract.

        Sort the items by work: ``gas`` defaults to :func:`bill_mint_batch_gas_limit` for the
        batch's runs; a batch whose limit would pass the per-transaction cap is refused.
        """
        if gas is None:
            gas = bill_mint_batch_gas_limit(len(work_ids), work_runs(work_ids))
        data = encode_bill_mint_batch(work_ids, recipients, amounts, refs)
        return self._sign(minter_key, data, nonce, gas, fees)

    def build_burn_tx(
        self,
        minter_key: PrivateKey,
        holder: str,
        work_id: int,
        amount: int,
        ref: bytes,
        issuance_ref: bytes,
        nonce: int,
        gas: int = BILL_BURN_GAS_LIMIT,
        fees: Fees | None = None,
    ) -> SignedTx:
        """Sign ``burnWithReference``: ``amount`` go of ``work_id`` from ``holder`` for the burn
        ``ref``, drawn on the town's bill issuance ``issuance_ref`` (which must be of that work,
        to that holder, with that much left). Reverts ``AlreadyBurned`` on a used ref."""
        data = BURN_WITH_REFERENCE_SELECTOR + encode(
            ["address", "uint256", "uint256", "bytes32", "bytes32"],
            [
                require_address(holder),
                _require_work(work_id),
                require_amount(amount),
                require_ref(ref),
                require_ref(issuance_ref),
            ],
        )
        return self._sign(minter_key, data, nonce, gas, fees)

    def build_burn_batch_tx(
        self,
        minter_key: PrivateKey,
        holders: Sequence[str],
        work_ids: Sequence[int],
        amounts: Sequence[int],
        refs: Sequence[bytes],
        issuance_refs: Sequence[bytes],
        nonce: int,
        gas: int | None = None,
        fees: Fees | None = None,
    ) -> SignedTx:
        """Sign ``burnBatch``: :meth:`build_burn_tx` per item, skipping burn refs used before
        (crash-safe resending); any other refusal reverts the whole batch."""
        if gas is None:
            gas = bill_burn_batch_gas_limit(len(holders))
        data = encode_bill_burn_batch(holders, work_ids, amounts, refs, issuance_refs)
        return self._sign(minter_key, data, nonce, gas, fees)

    def _sign(
        self, key: PrivateKey, data: bytes, nonce: int, gas: int, fees: Fees | None
    ) -> SignedTx:
        conn = self.connection
        return conn._sign(conn.account(key), self.address, data, nonce, gas, fees)

    # ------------------------------------------------------------ reads

    def balance_of(self, holder: str, work_id: int) -> int:
        """``holder``'s bill of ``work_id``, in go."""
        holder_address = to_checksum_address(require_address(holder))
        return int(self._call("balanceOf", holder_address, _require_work(work_id)))

    def total_supply(self, work_id: int) -> int:
        """The go of ``work_id``'s bills outstanding (minted, not yet burned)."""
        return int(self._call("totalSupply", _require_work(work_id)))

    def work(self, work_id: int) -> BillWork:
        """``work_id``'s registration, cap and minted total."""
        town, season, cap, minted = self._call("workOf", _require_work(work_id))
        raw = bytes(town)
        return BillWork(town=raw if any(raw) else None, season=season, cap=cap, minted=minted)

    def town_of(self, minter: str) -> bytes:
        """The town ``minter`` mints bills for (32 zero bytes for none)."""
        return bytes(self._call("townOf", to_checksum_address(require_address(minter))))

    def minter_of(self, town: bytes) -> ChecksumAddress | None:
        """The bills minter of ``town``, or None."""
        address = to_checksum_address(self._call("minterOf", require_ref(town)))
        return None if int(address, 16) == 0 else address

    def season_cap(self, town: bytes, season: int) -> int:
        """``town``'s bill allowance for ``season``, in go."""
        return int(self._call("seasonCap", require_ref(town), require_season(season)))

    def season_reserved(self, town: bytes, season: int) -> int:
        """What ``town``'s registered works' caps take of its allowance for ``season``."""
        return int(self._call("seasonReserved", require_ref(town), require_season(season)))

    def allowance_left(self, town: bytes, season: int) -> int:
        """What ``town`` may still register in works' caps for ``season``, in go."""
        return int(self._call("allowanceLeft", require_ref(town), require_season(season)))

    def is_minted(self, town: bytes, ref: bytes) -> bool:
        """Whether ``town`` minted the bill issuance ``ref``."""
        return bool(self._call("isMinted", require_ref(town), require_ref(ref)))

    def burnable_of(self, town: bytes, ref: bytes, holder: str, work_id: int) -> int:
        """What burns may still take of ``town``'s issuance ``ref`` (0 unless it was of
        ``work_id`` to ``holder``)."""
        return int(
            self._call(
                "burnableOf",
                require_ref(town),
                require_ref(ref),
                to_checksum_address(require_address(holder)),
                _require_work(work_id),
            )
        )

    def is_burned(self, town: bytes, ref: bytes) -> bool:
        """Whether ``town`` used the burn ref ``ref``."""
        return bool(self._call("isBurned", require_ref(town), require_ref(ref)))

    def admin(self) -> ChecksumAddress:
        """The contract's admin (the cold key)."""
        return to_checksum_address(self._call("defaultAdmin"))
