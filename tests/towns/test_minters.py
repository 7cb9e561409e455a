"""Town minter keys: encrypted at rest, one active per town, made for every town."""

from __future__ import annotations

import uuid

import pytest
from eth_account import Account
from sqlalchemy import select, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from kokudaka.chain.refs import town_id
from kokudaka.core.settings import Settings
from kokudaka.models import Municipality, Region
from kokudaka.models.chain import TownMinter, TownMinterState
from kokudaka.towns.minters import (
    NoTownMinter,
    active_minters,
    create_town_minter,
    ensure_town_minters,
    minter_for,
    rotate_town_minter,
)
from kokudaka.wallets.custody import WalletKeyError


def _towns(session: Session, count: int) -> list[uuid.UUID]:
    region = Region(code=f"r{uuid.uuid4().hex[:8]}", name="会津")
    session.add(region)
    session.flush()
    towns = [
        Municipality(region_id=region.id, code=f"t{i}{uuid.uuid4().hex[:6]}", name=f"町{i}")
        for i in range(count)
    ]
    session.add_all(towns)
    session.flush()
    return [town.id for town in towns]


def test_a_minter_key_is_stored_encrypted_and_opens_only_on_its_row(
    db: sessionmaker[Session], settings: Settings
) -> None:
    with db.begin() as session:
        (town,) = _towns(session, 1)
        key = create_town_minter(session, settings, town)
    private_key = key.private_key(settings)
    assert Account.from_key(private_key).address == key.address
    assert key.town == town_id(town) == town.int.to_bytes(32, "big")
    assert "key_ciphertext" not in repr(key)
    assert private_key.hex() not in repr(key)
    with db() as session:
        stored = session.execute(text("SELECT key_ciphertext FROM town_minters")).scalar_one()
        assert private_key not in bytes(stored)
        assert private_key.hex().encode() not in bytes(stored)
        # Moved onto another town's row, the ciphertext does not open.
        (other,) = _towns(session, 1)
        other_key = create_town_minter(session, settings, other)
        moved = type(other_key)(
            municipality_id=other,
            town=other_key.town,
            address=other_key.address,
            minter_id=other_key.minter_id,
            key_ciphertext=bytes(stored),
        )
        with pytest.raises(WalletKeyError):
            moved.private_key(settings)
        session.rollback()


def test_a_town_has_at_most_one_active_key(db: sessionmaker[Session], settings: Settings) -> None:
    with db.begin() as session:
        (town,) = _towns(session, 1)
        create_town_minter(session, settings, town)
    with db() as session, pytest.raises(IntegrityError):
        create_town_minter(session, settings, town)
    with db.begin() as session:
        old, new = rotate_town_minter(session, settings, town)
    assert old is not None
    assert old.address != new.address
    with db() as session:
        assert minter_for(session, town) == new
        states = {
            row.address: row.state
            for row in session.execute(select(TownMinter.address, TownMinter.state))
        }
        assert states == {old.address: TownMinterState.retired, new.address: TownMinterState.active}
        retired = session.scalar(select(TownMinter).where(TownMinter.address == old.address))
        assert retired is not None
        assert retired.retired_at is not None


def test_ensure_gives_a_key_to_every_town_that_has_none_once(
    db: sessionmaker[Session], settings: Settings
) -> None:
    with db.begin() as session:
        towns = _towns(session, 3)
        already = create_town_minter(session, settings, towns[0])
    with db.begin() as session:
        with pytest.raises(NoTownMinter):
            minter_for(session, towns[1])
        made = ensure_town_minters(session, settings)
    assert sorted(key.municipality_id for key in made) == sorted(towns[1:])
    with db.begin() as session:
        assert ensure_town_minters(session, settings) == []
        keys = active_minters(session)
    assert [key.municipality_id for key in keys] == sorted(towns)
    assert already in keys
    assert len({key.address for key in keys}) == 3
