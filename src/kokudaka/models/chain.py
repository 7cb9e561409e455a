"""The chain outbox: one row per on-chain operation a journal entry needs.

Written in the same transaction as the ledger entry it mirrors, so an accepted
issuance can never be lost between SQL and the chain; the settlement worker sends it
after commit and records what happened.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum

from sqlalchemy import (
    CheckConstraint,
    Enum,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship
from sqlalchemy.sql import text

from kokudaka.models.base import Base, CreatedAtMixin, IdMixin, utcnow
from kokudaka.models.ledger import Issuance, JournalEntry


class ChainOperationKind(StrEnum):
    mint = "mint"
    burn = "burn"


class ChainAsset(StrEnum):
    koku = "koku"
    """KOKU (``contracts/Koku.sol``): the operation names its ``issuance_id``."""
    bill = "bill"
    """A work's rice bills (``contracts/KokuBills.sol``, token id = the work): the
    operation names its ``bill_id``."""


class ChainState(StrEnum):
    pending = "pending"
    """Waiting for the settlement worker."""
    submitted = "submitted"
    """Signed and sent; the transaction hash is recorded before sending."""
    confirmed = "confirmed"
    """Mined; block and transaction recorded."""
    failed = "failed"
    """Refused by the chain for a reason a retry cannot fix; see ``last_error``."""


class ChainDeployment(IdMixin, CreatedAtMixin, Base):
    """The KOKU contract this database settles on: one row per chain id.

    Recorded on first start; on later starts the service checks that code is still at
    the address and refuses to run against a chain that lost it (a reset dev chain),
    rather than silently diverging from the ledger.
    """

    __tablename__ = "chain_deployments"

    chain_id: Mapped[int] = mapped_column(unique=True)
    token_address: Mapped[str] = mapped_column(String(42))
    admin_address: Mapped[str] = mapped_column(String(42))
    """The cold admin key's address (``DEFAULT_ADMIN_ROLE``) at deployment."""
    bills_address: Mapped[str | None] = mapped_column(String(42))
    """The rice bill contract (``contracts/KokuBills.sol``); null until it is deployed
    beside KOKU."""
    anchor_address: Mapped[str] = mapped_column(String(42))
    """The service's hot anchor key (``ANCHOR_ROLE``, ``settings.anchor_key``): it can only
    anchor the staff audit log's head. Minters are per town: see :class:`TownMinter`."""
    deployed_block: Mapped[int]


class TownMinterState(StrEnum):
    active = "active"
    """The key that signs the town's mints now; at most one per town."""
    retired = "retired"
    """Replaced by a rotation: no longer a minter on chain, kept so its past transactions
    can still be attributed to the town."""


class TownMinter(IdMixin, CreatedAtMixin, Base):
    """One minter key a municipality has had: the hot key that signs its mints.

    Each town is its own issuer on chain (``setTownMinter``): its key mints only within the
    town's season caps, so a leaked key creates at most what is left of one town's allowance.
    The private key is encrypted at rest like a custodial wallet key
    (:func:`kokudaka.wallets.custody.encrypt_key`), bound to this row's id, so a ciphertext
    copied onto another row or town does not open.
    """

    __tablename__ = "town_minters"
    __table_args__ = (
        UniqueConstraint("address"),
        # A town signs with one key at a time: the chain knows one minter per town.
        Index(
            "uq_town_minters_active_municipality_id",
            "municipality_id",
            unique=True,
            sqlite_where=text("state = 'active'"),
            postgresql_where=text("state = 'active'"),
        ),
        Index("ix_town_minters_municipality_id", "municipality_id"),
    )

    municipality_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("municipalities.id"))
    address: Mapped[str] = mapped_column(String(42))
    """Checksummed address of the key."""
    key_ciphertext: Mapped[bytes] = mapped_column(LargeBinary)
    """``nonce || AES-GCM(private key)``, the row's id as associated data."""
    state: Mapped[TownMinterState] = mapped_column(
        Enum(TownMinterState, native_enum=False, length=16), default=TownMinterState.active
    )
    retired_at: Mapped[datetime | None]


class TransactionState(StrEnum):
    submitted = "submitted"
    """Signed, recorded, then sent (or about to be resent after a crash)."""
    confirmed = "confirmed"
    failed = "failed"
    replaced = "replaced"
    """Its nonce was used by another transaction; its operations went back to pending."""


class ChainTransaction(IdMixin, CreatedAtMixin, Base):
    """One signed transaction of the settlement worker, recorded before it is sent.

    Keeping the raw signed bytes lets a restarted worker resend exactly the same
    transaction (same hash, same nonce) instead of guessing what happened.
    """

    __tablename__ = "chain_transactions"
    __table_args__ = (
        UniqueConstraint("tx_hash"),
        Index("ix_chain_transactions_state", "state"),
        Index("ix_chain_transactions_sender_nonce", "sender", "nonce"),
    )

    chain_id: Mapped[int]
    sender: Mapped[str] = mapped_column(String(42))
    nonce: Mapped[int]
    tx_hash: Mapped[str] = mapped_column(String(66))
    raw_tx: Mapped[bytes] = mapped_column(LargeBinary)
    state: Mapped[TransactionState] = mapped_column(
        Enum(TransactionState, native_enum=False, length=16), default=TransactionState.submitted
    )
    operation_count: Mapped[int] = mapped_column(Integer)
    block_number: Mapped[int | None]
    gas_used: Mapped[int | None]
    last_error: Mapped[str | None] = mapped_column(String(1000))
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class ChainOperation(IdMixin, CreatedAtMixin, Base):
    __tablename__ = "chain_operations"
    __table_args__ = (
        CheckConstraint("amount_go > 0", name="amount_positive"),
        Index("ix_chain_operations_state_next_attempt_at", "state", "next_attempt_at"),
        # A town's worker claims its due operations in this order; the console's dashboards
        # count each town's operations by state through its prefix.
        Index(
            "ix_chain_operations_municipality_id_state_next_attempt_at",
            "municipality_id",
            "state",
            "next_attempt_at",
        ),
        CheckConstraint(
            "(asset = 'koku' AND issuance_id IS NOT NULL)"
            " OR (asset = 'bill' AND bill_id IS NOT NULL)",
            name="names_its_record",
        ),
    )

    kind: Mapped[ChainOperationKind] = mapped_column(
        Enum(ChainOperationKind, native_enum=False, length=16)
    )
    asset: Mapped[ChainAsset] = mapped_column(
        Enum(ChainAsset, native_enum=False, length=8),
        default=ChainAsset.koku,
        server_default=ChainAsset.koku.value,
    )
    entry_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("journal_entries.id"), index=True)
    """The journal entry it mirrors. One each for an issuance and a reversal; a harvest
    conversion has one KOKU burn per board issuance and one bill mint."""
    issuance_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("issuances.id"), index=True)
    """KOKU: the issuance minted, or whose KOKU is burned."""
    bill_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("bills.id"), index=True)
    """Bills: the bill minted (or, later, redeemed)."""
    municipality_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("municipalities.id"))
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id"))
    reference: Mapped[str] = mapped_column(String(66), unique=True)
    """The ``bytes32`` the contract records so it never mints one reference twice."""
    amount_go: Mapped[int]
    state: Mapped[ChainState] = mapped_column(
        Enum(ChainState, native_enum=False, length=16), default=ChainState.pending
    )
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(default=utcnow)
    recipient_address: Mapped[str | None] = mapped_column(String(42))
    """Fixed when first sent, so a resend after a crash or reorg goes to the same place."""
    transaction_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("chain_transactions.id"), index=True
    )
    tx_hash: Mapped[str | None] = mapped_column(String(66))
    block_number: Mapped[int | None]
    last_error: Mapped[str | None] = mapped_column(String(1000))
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    # For insert ordering in a single flush (see Posting.entry); never loaded implicitly.
    entry: Mapped[JournalEntry] = relationship(lazy="raise")
    issuance: Mapped[Issuance | None] = relationship(lazy="raise")
