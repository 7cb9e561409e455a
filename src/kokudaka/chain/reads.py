"""Reads of the KOKU contract: balances, supply, the towns' minters and caps, refs, the anchor."""

from __future__ import annotations

from eth_typing import ChecksumAddress
from eth_utils.address import to_checksum_address

from kokudaka.chain.connection import ChainConnection, require_address, require_ref

__all__ = ["KokuReads"]


class KokuReads(ChainConnection):
    """View calls of the KOKU contract (amounts in go; towns and refs as 32 bytes)."""

    def balance_of(self, address: str) -> int:
        """Balance of ``address`` in go."""
        return int(self._call("balanceOf", to_checksum_address(require_address(address))))

    def total_supply(self) -> int:
        """Total KOKU in circulation, in go."""
        return int(self._call("totalSupply"))

    def is_minter(self, address: str) -> bool:
        """Whether ``address`` holds the minter role (is some town's minter)."""
        return bool(
            self._call("townOf", to_checksum_address(require_address(address))) != bytes(32)
        )

    def town_of(self, minter: str) -> bytes:
        """The town ``minter`` mints for (32 zero bytes for none)."""
        return bytes(self._call("townOf", to_checksum_address(require_address(minter))))

    def minter_of(self, town: bytes) -> ChecksumAddress | None:
        """The minter of ``town``, or None when it has none."""
        address = to_checksum_address(self._call("minterOf", require_ref(town)))
        return None if int(address, 16) == 0 else address

    def season_cap(self, town: bytes, season: int) -> int:
        """``town``'s cap for ``season`` on chain, in go."""
        return int(self._call("seasonCap", require_ref(town), season))

    def season_minted(self, town: bytes, season: int) -> int:
        """What ``town`` minted in ``season``, in go (burns do not give it back)."""
        return int(self._call("seasonMinted", require_ref(town), season))

    def allowance_left(self, town: bytes, season: int) -> int:
        """What ``town`` may still mint in ``season``, in go."""
        return int(self._call("allowanceLeft", require_ref(town), season))

    def is_minted(self, town: bytes, ref: bytes) -> bool:
        """Whether ``town`` minted the issuance ``ref`` (the contract's exactly-once record)."""
        return bool(self._call("isMinted", require_ref(town), require_ref(ref)))

    def issued_of(self, town: bytes, ref: bytes) -> tuple[ChecksumAddress, int]:
        """Where ``town``'s issuance ``ref`` went, and what a correction may still burn of it."""
        holder, burnable = self._call("issuedOf", require_ref(town), require_ref(ref))
        return to_checksum_address(holder), int(burnable)

    def is_burned(self, town: bytes, ref: bytes) -> bool:
        """Whether ``town`` burned the correction ``ref``."""
        return bool(self._call("isBurned", require_ref(town), require_ref(ref)))

    def has_role(self, role: bytes, address: str) -> bool:
        """Whether ``address`` holds ``role`` (e.g. ``interface.ANCHOR_ROLE``)."""
        return bool(self._call("hasRole", role, to_checksum_address(require_address(address))))

    def last_anchor(self) -> tuple[int, bytes]:
        """The last anchored row of the staff audit log and its hash; ``(0, 32 zero bytes)``
        before the first anchor."""
        sequence, head = self._call("lastAnchor")
        return int(sequence), bytes(head)

    def admin(self) -> ChecksumAddress:
        """The contract's admin (the cold key)."""
        return to_checksum_address(self._call("defaultAdmin"))
