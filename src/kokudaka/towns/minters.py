"""Each town's minter key: made with the town, encrypted at rest, rotated by the admin.

A municipality is its own issuer on the KOKU contract (``setTownMinter``): the chain lets a
town's key mint only within that town's season caps. The service holds the keys (towns sign
in with nothing more than a browser), encrypted like custodial wallet keys
(:mod:`kokudaka.wallets.custody`), each bound to its row's id.

- A town created through the API or the demo loader gets its key in the same transaction
  (:func:`create_town_minter`).
- Towns that existed before minters were per town get theirs from :func:`ensure_town_minters`,
  run at the start of ``serve``, ``worker`` and the ``chain`` commands: a migration cannot make
  them, since it never sees the encryption secret.
- :func:`rotate_town_minter` retires the active key and makes a new one; the admin command then
  points the contract at it (the town's allowances stay with the town on chain).

The settlement worker reads :func:`active_minters` / :func:`minter_for` and decrypts a key with
:meth:`TownMinterKey.private_key` only when it signs.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass, field

from eth_account import Account
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from kokudaka.chain.refs import town_id
from kokudaka.core.ids import new_id
from kokudaka.core.settings import Settings
from kokudaka.models import Municipality
from kokudaka.models.base import utcnow
from kokudaka.models.chain import TownMinter, TownMinterState
from kokudaka.wallets.custody import decrypt_key, encrypt_key

__all__ = [
    "NoTownMinter",
    "TownMinterKey",
    "active_minters",
    "create_town_minter",
    "ensure_town_minters",
    "minter_for",
    "rotate_town_minter",
]

logger = logging.getLogger(__name__)


class NoTownMinter(LookupError):
    """The town has no active minter key (created before keys were per town and not yet
    given one by :func:`ensure_town_minters`, or mid-rotation)."""


@dataclass(frozen=True, slots=True)
class TownMinterKey:
    """A town's active minter: who it is on chain and how to get its key for signing."""

    municipality_id: uuid.UUID
    town: bytes
    """The contract's ``bytes32 town`` (:func:`kokudaka.chain.refs.town_id`)."""
    address: str
    """Checksummed address of the key."""
    minter_id: uuid.UUID
    """The ``town_minters`` row: the associated data of the ciphertext."""
    key_ciphertext: bytes = field(repr=False)

    def private_key(self, settings: Settings) -> bytes:
        """The 32-byte private key; raises :class:`~kokudaka.wallets.custody.WalletKeyError`
        if it does not open under this service's secret. Never log or return it."""
        return decrypt_key(settings, self.minter_id, self.key_ciphertext)


def _key_of(row: TownMinter) -> TownMinterKey:
    return TownMinterKey(
        municipality_id=row.municipality_id,
        town=town_id(row.municipality_id),
        address=row.address,
        minter_id=row.id,
        key_ciphertext=row.key_ciphertext,
    )


def active_minters(session: Session) -> list[TownMinterKey]:
    """Every town's active minter, in municipality id order."""
    rows = session.scalars(
        select(TownMinter)
        .where(TownMinter.state == TownMinterState.active)
        .order_by(TownMinter.municipality_id)
    )
    return [_key_of(row) for row in rows]


def minter_for(session: Session, municipality_id: uuid.UUID) -> TownMinterKey:
    """The town's active minter; :class:`NoTownMinter` if it has none."""
    row = session.scalar(
        select(TownMinter).where(
            TownMinter.municipality_id == municipality_id,
            TownMinter.state == TownMinterState.active,
        )
    )
    if row is None:
        raise NoTownMinter(f"municipality {municipality_id} has no active minter key")
    return _key_of(row)


def create_town_minter(
    session: Session, settings: Settings, municipality_id: uuid.UUID
) -> TownMinterKey:
    """A fresh key for the town, active, flushed in the caller's transaction.

    The town must have no active key (the unique index refuses a second one): rotation goes
    through :func:`rotate_town_minter`.
    """
    account = Account.create()
    row = TownMinter(
        id=new_id(),
        municipality_id=municipality_id,
        address=account.address,
        state=TownMinterState.active,
    )
    row.key_ciphertext = encrypt_key(settings, row.id, bytes(account.key))
    session.add(row)
    session.flush()
    return _key_of(row)


def ensure_town_minters(session: Session, settings: Settings) -> list[TownMinterKey]:
    """Give every town without an active key one; returns the keys made.

    Idempotent, and safe beside another process doing the same (``serve`` and ``worker``
    starting together): each key is written in a savepoint, and a town another process served
    first is skipped. A retired-only town (a rotation interrupted between its two steps) gets
    a new key too. The caller commits.
    """
    has_active = select(TownMinter.municipality_id).where(
        TownMinter.state == TownMinterState.active
    )
    missing = session.scalars(
        select(Municipality.id).where(Municipality.id.not_in(has_active)).order_by(Municipality.id)
    ).all()
    made: list[TownMinterKey] = []
    for municipality_id in missing:
        try:
            with session.begin_nested():
                made.append(create_town_minter(session, settings, municipality_id))
        except IntegrityError:
            logger.info("municipality %s got its minter key elsewhere meanwhile", municipality_id)
    if made:
        logger.info("minter keys made for %s town(s)", len(made))
    return made


def rotate_town_minter(
    session: Session, settings: Settings, municipality_id: uuid.UUID
) -> tuple[TownMinterKey | None, TownMinterKey]:
    """Retire the town's active key (if any) and make a new one: ``(old, new)``.

    Only the database: the caller points the contract at the new key (``setTownMinter``,
    which takes MINTER_ROLE from the old one) and commits once that is confirmed, so a failed
    admin transaction leaves the old key active.
    """
    old_row = session.scalar(
        select(TownMinter)
        .where(
            TownMinter.municipality_id == municipality_id,
            TownMinter.state == TownMinterState.active,
        )
        .with_for_update()
    )
    old = None
    if old_row is not None:
        old = _key_of(old_row)
        old_row.state = TownMinterState.retired
        old_row.retired_at = utcnow()
        # Retire first: the unique index allows one active key per town at any moment.
        session.flush()
    return old, create_town_minter(session, settings, municipality_id)
