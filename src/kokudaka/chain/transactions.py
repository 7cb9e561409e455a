"""Transactions of the KOKU contract: the admin's (deploy, towns' minters, caps, the anchor role),
sent and awaited at once, and the hot keys' (mints, burns, anchors), signed offline.

Gas for mint batches is computed, not estimated: the limit is a measured worst case per item
(new recipient, new ref), so a batch can be signed offline and is never under-funded by an
estimate taken against a state that changed before it was mined. Every batch stays under the
EIP-7825 per-transaction cap of 2**24 gas.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

from eth_abi.abi import encode
from eth_typing import ChecksumAddress
from eth_utils.address import to_checksum_address

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
from kokudaka.chain.errors import ChainError
from kokudaka.chain.interface import (
    ANCHOR_AUDIT_LOG_SELECTOR,
    ANCHOR_ROLE,
    BURN_BATCH_SELECTOR,
    BURN_WITH_REFERENCE_SELECTOR,
    MINT_BATCH_SELECTOR,
    MINT_SELECTOR,
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
    "KokuTransactions",
    "address_word",
    "burn_batch_gas_limit",
    "encode_burn_batch",
    "encode_mint_batch",
    "encode_word_arrays",
    "mint_batch_gas_limit",
    "require_season",
    "uint_word",
]

# Measured with bench/chain_gas.py (anvil 1.7.1, solc 0.8.28, optimizer 200 runs, KOKU v3): gas
# needed (eth_estimateGas, which counts what a refund later gives back). The worst case per item
# is a recipient with no balance and a fresh ref: two zero-to-nonzero storage writes (balance and
# the town's ref, 22,100 gas each with the cold read), the Transfer and Minted logs and ~0.9k of
# calldata: 50,614 gas per item, 50,734 with the largest amount (2**96 - 1); an existing holder
# costs 33,341, a skipped item 5,204. The fixed part is 38,568 (21,000 intrinsic, role, town and
# the season's slot, already non-zero once its cap is set, so a town's first batch of a season
# costs no more), plus ~17k once in the contract's life, when totalSupply first leaves zero:
# 55,668 for the first batch on a fresh contract.
#: Fixed part of a ``mintBatch`` gas limit (worst case, the first batch on a fresh contract,
#: 55,668 measured).
MINT_BATCH_BASE_GAS: Final = 80_000
#: Worst-case gas per ``mintBatch`` item (measured 50,614, 50,734 with the largest amount), with
#: ~4% margin: the largest batch needs 16,036,772 of its 16,775,000.
MINT_BATCH_ITEM_GAS: Final = 53_000
#: Largest batch whose computed gas limit stays under :data:`TX_GAS_CAP` (315).
MAX_BATCH_SIZE: Final = (TX_GAS_CAP - MINT_BATCH_BASE_GAS) // MINT_BATCH_ITEM_GAS
#: Gas limit of a single ``mint`` (measured 87,181; 104,389 the first on a fresh contract).
MINT_GAS_LIMIT: Final = 140_000
#: Gas limit of ``burnWithReference`` (69,865 needed at most: a fresh correction ref written from
#: zero; a burn that empties the balance uses ~4.8k less, refunded after it ran).
BURN_GAS_LIMIT: Final = 80_000
#: Fixed part of a ``burnBatch`` gas limit (33,044 needed, the first burn on a fresh contract).
BURN_BATCH_BASE_GAS: Final = 40_000
#: Worst-case gas per ``burnBatch`` item (39,473 needed: a fresh burn ref written from zero, the
#: issuance's word and the holder's balance rewritten, the Transfer and Burned logs; a balance
#: emptied costs as much before its refund), with ~6% margin; a skipped item costs 6,231.
BURN_BATCH_ITEM_GAS: Final = 42_000
#: Largest ``burnBatch`` whose computed gas limit stays under :data:`TX_GAS_CAP`.
MAX_BURN_BATCH_SIZE: Final = (TX_GAS_CAP - BURN_BATCH_BASE_GAS) // BURN_BATCH_ITEM_GAS
#: Gas limit of ``anchorAuditLog`` (70,720 the first time, when both words are written from zero;
#: 36,520 after).
ANCHOR_GAS_LIMIT: Final = 80_000


def require_season(season: int) -> int:
    """A season (the rice's year) as the contract's ``uint16``."""
    if isinstance(season, bool) or not isinstance(season, int) or not 0 < season < 2**16:
        raise ValueError(f"a season is a year between 1 and 65535, got {season!r}")
    return season


def mint_batch_gas_limit(size: int) -> int:
    """A gas limit that covers a ``mintBatch`` of ``size`` items in the worst case."""
    if size < 1:
        raise ValueError("a batch has at least one item")
    return MINT_BATCH_BASE_GAS + size * MINT_BATCH_ITEM_GAS


def burn_batch_gas_limit(size: int) -> int:
    """A gas limit that covers a ``burnBatch`` of ``size`` items in the worst case."""
    if size < 1:
        raise ValueError("a batch has at least one item")
    return BURN_BATCH_BASE_GAS + size * BURN_BATCH_ITEM_GAS


def encode_burn_batch(
    holders: Sequence[str],
    amounts: Sequence[int],
    refs: Sequence[bytes],
    issuance_refs: Sequence[bytes],
) -> bytes:
    """Calldata of ``burnBatch(holders, amounts, refs, issuanceRefs)``, validated item by item
    and laid out by hand like :func:`encode_mint_batch` (four dynamic arrays of static words)."""
    size = len(holders)
    if not size == len(amounts) == len(refs) == len(issuance_refs):
        raise ValueError(
            "holders, amounts, refs and issuance refs differ in length: "
            f"{size}, {len(amounts)}, {len(refs)}, {len(issuance_refs)}"
        )
    return encode_word_arrays(
        BURN_BATCH_SELECTOR,
        [],
        [address_word(h) for h in holders],
        [uint_word(a) for a in amounts],
        [require_ref(r) for r in refs],
        [require_ref(r) for r in issuance_refs],
    )


def encode_word_arrays(selector: bytes, head: Sequence[bytes], *arrays: Sequence[bytes]) -> bytes:
    """Calldata of a function taking ``head`` (static 32-byte words) then ``arrays`` (dynamic
    arrays of static 32-byte words), in ABI layout, laid out by hand (see
    :func:`encode_mint_batch` for why)."""
    offset = (len(head) + len(arrays)) * 32
    parts = [selector, *head]
    for array in arrays:
        parts.append(offset.to_bytes(32, "big"))
        offset += (1 + len(array)) * 32
    for array in arrays:
        parts.append(len(array).to_bytes(32, "big"))
        parts += array
    return b"".join(parts)


def uint_word(amount: int) -> bytes:
    """A positive amount as a ``uint256`` word."""
    if require_amount(amount) >= 2**256:
        raise ValueError(f"an amount is a uint256, got {amount!r}")
    return amount.to_bytes(32, "big")


def encode_mint_batch(
    season: int, recipients: Sequence[str], amounts: Sequence[int], refs: Sequence[bytes]
) -> bytes:
    """Calldata of ``mintBatch(season, recipients, amounts, refs)``, validated item by item.

    The ABI layout of three dynamic arrays of static words is written by hand: eth_abi (and
    more so web3's contract machinery) re-validates and encodes each of a batch's ~1,000 words
    through several Python calls, which was the largest CPU cost of settling a batch.
    ``tests/chain/test_mint_batch_encoding.py`` checks the bytes against eth_abi's.
    """
    size = len(recipients)
    if size != len(amounts) or size != len(refs):
        raise ValueError(
            f"recipients, amounts and refs differ in length: {size}, {len(amounts)}, {len(refs)}"
        )
    words = 1 + size  # each array: its length, then its items
    parts = [
        MINT_BATCH_SELECTOR,
        require_season(season).to_bytes(32, "big"),
        (4 * 32).to_bytes(32, "big"),  # the arrays follow the four head words
        ((4 + words) * 32).to_bytes(32, "big"),
        ((4 + 2 * words) * 32).to_bytes(32, "big"),
        size.to_bytes(32, "big"),
    ]
    parts += [address_word(r) for r in recipients]
    parts.append(size.to_bytes(32, "big"))
    for amount in amounts:
        if require_amount(amount) >= 2**256:
            raise ValueError(f"an amount is a uint256, got {amount!r}")
        parts.append(amount.to_bytes(32, "big"))
    parts.append(size.to_bytes(32, "big"))
    parts += [require_ref(r) for r in refs]
    return b"".join(parts)


_ADDRESS_PAD: Final = bytes(12)


def address_word(address: str) -> bytes:
    """An address as an ABI word (validated)."""
    value: str | bytes = require_address(address)
    raw = bytes(value) if isinstance(value, bytes | bytearray) else bytes.fromhex(value[-40:])
    return _ADDRESS_PAD + raw


class KokuTransactions(ChainConnection):
    """Every transaction the service sends to KOKU."""

    # ------------------------------------------------------------ the admin (synchronous)

    def deploy_koku(
        self,
        deployer_key: PrivateKey,
        *,
        admin: str | None = None,
        admin_delay: int = 0,
        timeout: float = 60.0,
    ) -> ChecksumAddress:
        """Deploy KOKU (admin = ``admin`` or the deployer), wait for it and start using it.

        ``admin_delay`` is the seconds a handover of the admin role must wait once scheduled.
        """
        deployer = self.account(deployer_key)
        admin_address = to_checksum_address(require_address(admin or deployer.address))
        if not 0 <= admin_delay < 2**48:
            raise ValueError(f"the admin delay is a uint48 of seconds, got {admin_delay!r}")
        data = (
            self._artifact.bytecode
            + encode(["uint48", "address"], [admin_delay, admin_address]).hex()
        )
        receipt = self._transact(deployer_key, None, data, context="deploy", timeout=timeout)
        address = receipt.get("contractAddress")
        if address is None:
            raise ChainError("deployment receipt has no contract address")
        self.use_koku(address)
        return to_checksum_address(address)

    def set_town_minter(
        self, admin_key: PrivateKey, town: bytes, minter: str, *, timeout: float = 60.0
    ) -> str:
        """Make ``minter`` the minter of ``town`` (its previous one loses the role); tx hash."""
        return self._admin_call(
            admin_key,
            "setTownMinter",
            [require_ref(town), to_checksum_address(require_address(minter))],
            timeout,
        )

    def remove_town_minter(
        self, admin_key: PrivateKey, town: bytes, *, timeout: float = 60.0
    ) -> str:
        """Leave ``town`` without a minter; returns the tx hash."""
        return self._admin_call(admin_key, "removeTownMinter", [require_ref(town)], timeout)

    def set_season_cap(
        self, admin_key: PrivateKey, town: bytes, season: int, cap: int, *, timeout: float = 60.0
    ) -> str:
        """Set ``town``'s cap for ``season`` to ``cap`` go (absolute, idempotent); tx hash."""
        if isinstance(cap, bool) or not isinstance(cap, int) or cap < 0:
            raise ValueError(f"a cap is a non-negative integer of go, got {cap!r}")
        return self._admin_call(
            admin_key, "setSeasonCap", [require_ref(town), require_season(season), cap], timeout
        )

    def grant_anchor_role(
        self, admin_key: PrivateKey, anchor: str, *, timeout: float = 60.0
    ) -> str:
        """Let ``anchor`` anchor the staff audit log (and nothing else); returns the tx hash."""
        return self._admin_call(
            admin_key,
            "grantRole",
            [ANCHOR_ROLE, to_checksum_address(require_address(anchor))],
            timeout,
        )

    def _admin_call(
        self, admin_key: PrivateKey, function: str, args: list[object], timeout: float
    ) -> str:
        data = self._contract().encode_abi(function, args)
        receipt = self._transact(
            admin_key, self.koku_address, data, context=function, timeout=timeout
        )
        return hex0x(receipt["transactionHash"])

    # ------------------------------------------------------------ the hot keys (offline)

    def build_mint_batch_tx(
        self,
        minter_key: PrivateKey,
        season: int,
        recipients: Sequence[str],
        amounts: Sequence[int],
        refs: Sequence[bytes],
        nonce: int,
        gas: int | None = None,
        fees: Fees | None = None,
    ) -> SignedTx:
        """Sign ``mintBatch(season, recipients, amounts, refs)`` with ``nonce``; nothing is sent.

        Refs the minter's town already minted are skipped by the contract, so re-signing and
        resending a batch whose fate is unknown is safe. ``gas`` defaults to
        :func:`mint_batch_gas_limit`; batches above :data:`MAX_BATCH_SIZE` are refused so none
        can exceed :data:`TX_GAS_CAP`.
        """
        size = len(recipients)
        if gas is None:
            if size > MAX_BATCH_SIZE:
                raise ValueError(f"batch of {size} exceeds MAX_BATCH_SIZE={MAX_BATCH_SIZE}")
            gas = mint_batch_gas_limit(size)
        data = encode_mint_batch(season, recipients, amounts, refs)
        return self._sign(self.account(minter_key), self.koku_address, data, nonce, gas, fees)

    def build_mint_tx(
        self,
        minter_key: PrivateKey,
        season: int,
        to: str,
        amount: int,
        ref: bytes,
        nonce: int,
        gas: int = MINT_GAS_LIMIT,
        fees: Fees | None = None,
    ) -> SignedTx:
        """Sign a single ``mint``; unlike a batch it reverts ``AlreadyMinted`` on a used ref."""
        data = MINT_SELECTOR + encode(
            ["uint16", "address", "uint256", "bytes32"],
            [require_season(season), require_address(to), require_amount(amount), require_ref(ref)],
        )
        return self._sign(self.account(minter_key), self.koku_address, data, nonce, gas, fees)

    def build_burn_with_reference_tx(
        self,
        minter_key: PrivateKey,
        from_address: str,
        amount: int,
        ref: bytes,
        issuance_ref: bytes,
        nonce: int,
        gas: int = BURN_GAS_LIMIT,
        fees: Fees | None = None,
    ) -> SignedTx:
        """Sign ``burnWithReference``: a town's minter removes ``amount`` go from the wallet the
        town's issuance ``issuance_ref`` was minted to, for the correction ``ref``."""
        data = BURN_WITH_REFERENCE_SELECTOR + encode(
            ["address", "uint256", "bytes32", "bytes32"],
            [
                require_address(from_address),
                require_amount(amount),
                require_ref(ref),
                require_ref(issuance_ref),
            ],
        )
        return self._sign(self.account(minter_key), self.koku_address, data, nonce, gas, fees)

    def build_burn_batch_tx(
        self,
        minter_key: PrivateKey,
        holders: Sequence[str],
        amounts: Sequence[int],
        refs: Sequence[bytes],
        issuance_refs: Sequence[bytes],
        nonce: int,
        gas: int | None = None,
        fees: Fees | None = None,
    ) -> SignedTx:
        """Sign ``burnBatch``: :meth:`build_burn_with_reference_tx` per item; burn refs the
        town used before are skipped by the contract (``BurnSkipped``), so a resend is safe.
        Batches above :data:`MAX_BURN_BATCH_SIZE` are refused (their limit would pass
        :data:`TX_GAS_CAP`)."""
        size = len(holders)
        if gas is None:
            if size > MAX_BURN_BATCH_SIZE:
                raise ValueError(
                    f"batch of {size} exceeds MAX_BURN_BATCH_SIZE={MAX_BURN_BATCH_SIZE}"
                )
            gas = burn_batch_gas_limit(size)
        data = encode_burn_batch(holders, amounts, refs, issuance_refs)
        return self._sign(self.account(minter_key), self.koku_address, data, nonce, gas, fees)

    def build_anchor_tx(
        self,
        anchor_key: PrivateKey,
        sequence: int,
        head: bytes,
        nonce: int,
        gas: int = ANCHOR_GAS_LIMIT,
        fees: Fees | None = None,
    ) -> SignedTx:
        """Sign ``anchorAuditLog(sequence, head)``: the staff audit log's row ``sequence`` has the
        hash ``head``."""
        if isinstance(sequence, bool) or not isinstance(sequence, int) or not 0 < sequence < 2**64:
            raise ValueError(f"a sequence is a positive uint64, got {sequence!r}")
        if not isinstance(head, bytes | bytearray) or len(head) != 32:
            raise ValueError(f"a head is 32 bytes, got {head!r}")
        data = ANCHOR_AUDIT_LOG_SELECTOR + encode(["uint64", "bytes32"], [sequence, bytes(head)])
        return self._sign(self.account(anchor_key), self.koku_address, data, nonce, gas, fees)

    def anchor_audit_log(
        self, anchor_key: PrivateKey, sequence: int, head: bytes, *, timeout: float = 60.0
    ) -> str:
        """Anchor the staff audit log's head now and wait for it; returns the tx hash.

        Raises :class:`~kokudaka.chain.errors.TransactionReverted` named ``AnchorNotNewer`` when
        that row (or a later one) is anchored already.
        """
        account = self.account(anchor_key)
        signed = self.build_anchor_tx(
            anchor_key, sequence, head, self.pending_nonce(account.address)
        )
        tx_hash = self.send_raw(signed.raw)
        self.raise_for_receipt(self.wait_receipt(tx_hash, timeout=timeout), context="anchor")
        return tx_hash
