"""The cold admin key: development deploys and syncs by itself, production only checks; the
``kokudaka chain`` commands show and send the towns' minters and caps, and rotate a minter."""

from __future__ import annotations

import argparse
import io
import uuid
from collections.abc import Iterator

import pytest
from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from kokudaka.chain import admin_commands
from kokudaka.chain.client import ChainClient
from kokudaka.chain.deployment import DeploymentMismatch, ensure_deployment
from kokudaka.chain.devkeys import ANVIL_DEV_KEYS
from kokudaka.chain.errors import TransactionReverted
from kokudaka.chain.interface import ANCHOR_ROLE
from kokudaka.chain.node import AnvilNode
from kokudaka.chain.refs import issuance_ref, town_id
from kokudaka.core.settings import Environment, Settings
from kokudaka.models import (
    ChainDeployment,
    Municipality,
    MunicipalityPolicy,
    Region,
    StaffLogEntry,
)
from kokudaka.towns.minters import TownMinterKey, minter_for

SEASON = 2026
CAP_GO = 1_000_000
HOLDER = "0x" + "ab" * 20


@pytest.fixture
def fresh_chain(anvil: AnvilNode) -> Iterator[ChainClient]:
    """A client with no contract yet; the chain is rolled back after the test."""
    client = ChainClient(anvil.rpc_url)
    snapshot = client.rpc("evm_snapshot")
    try:
        yield client
    finally:
        assert client.rpc("evm_revert", [snapshot]) is True


@pytest.fixture
def chain_settings(settings: Settings, anvil: AnvilNode) -> Settings:
    return settings.model_copy(update={"chain_enabled": True, "chain_rpc_url": anvil.rpc_url})


def _towns(db: sessionmaker[Session], *codes: str) -> list[uuid.UUID]:
    """Towns as they were before minters were per town: no key yet, a policy for SEASON."""
    with db.begin() as session:
        region = Region(code=f"r-{uuid.uuid4().hex[:6]}", name="会津")
        session.add(region)
        session.flush()
        towns = [Municipality(region_id=region.id, code=code, name=code) for code in codes]
        session.add_all(towns)
        session.flush()
        for town in towns:
            session.add(
                MunicipalityPolicy(
                    municipality_id=town.id,
                    season=SEASON,
                    price_yen_per_go=10,
                    volunteer_go_per_hour=100,
                    yearly_cap_go=CAP_GO,
                )
            )
        return [town.id for town in towns]


def _mint(
    client: ChainClient, settings: Settings, key: TownMinterKey, amount: int, ref: bytes
) -> None:
    signed = client.build_mint_batch_tx(
        key.private_key(settings),
        SEASON,
        [HOLDER],
        [amount],
        [ref],
        client.pending_nonce(key.address),
    )
    client.raise_for_receipt(client.wait_receipt(client.send_raw(signed.raw)), context="mint")


def _run(command: str, settings: Settings, **arguments: object) -> tuple[int, str]:
    out = io.StringIO()
    code = getattr(admin_commands, command)(argparse.Namespace(**arguments), settings, out)
    return code, out.getvalue()


def test_development_deploys_and_sets_every_towns_minter_and_caps_by_itself(
    db: sessionmaker[Session], fresh_chain: ChainClient, chain_settings: Settings
) -> None:
    nishiaizu, bange = _towns(db, "nishiaizu", "aizubange")
    deployment = ensure_deployment(db, fresh_chain, chain_settings)
    assert deployment.anchor_address == fresh_chain.account(ANVIL_DEV_KEYS[1]).address
    assert fresh_chain.has_role(ANCHOR_ROLE, deployment.anchor_address)
    with db() as session:
        keys = [minter_for(session, town) for town in (nishiaizu, bange)]
    for key in keys:
        assert fresh_chain.minter_of(key.town) == key.address
        assert fresh_chain.season_cap(key.town, SEASON) == CAP_GO
    # The fresh keys can pay for their gas: a town mints at once, within its own cap only.
    _mint(fresh_chain, chain_settings, keys[0], 400, issuance_ref(uuid.uuid4()))
    assert fresh_chain.allowance_left(keys[0].town, SEASON) == CAP_GO - 400
    assert fresh_chain.allowance_left(keys[1].town, SEASON) == CAP_GO

    # A cap raised in SQL (and a new town) reach the chain at the next start, in development.
    with db.begin() as session:
        session.execute(update(MunicipalityPolicy).values(yearly_cap_go=2 * CAP_GO))
    (kitakata,) = _towns(db, "kitakata")
    again = ensure_deployment(db, fresh_chain, chain_settings)
    assert again.token_address == deployment.token_address
    assert fresh_chain.season_cap(keys[1].town, SEASON) == 2 * CAP_GO
    with db() as session:
        assert fresh_chain.minter_of(town_id(kitakata)) == minter_for(session, kitakata).address


def test_production_never_deploys_nor_sends_admin_transactions(
    db: sessionmaker[Session], fresh_chain: ChainClient, chain_settings: Settings
) -> None:
    production = chain_settings.model_copy(
        update={"env": Environment.production, "anchor_key": "0x" + "44" * 32}
    )
    _towns(db, "nishiaizu")
    head = fresh_chain.block_number()
    with pytest.raises(DeploymentMismatch, match="kokudaka chain deploy"):
        ensure_deployment(db, fresh_chain, production)
    assert fresh_chain.block_number() == head
    # Deployed by the command (development key here), a later cap change is only reported.
    code, _ = _run("run_deploy", chain_settings)
    assert code == 0
    with db.begin() as session:
        session.execute(update(MunicipalityPolicy).values(yearly_cap_go=3 * CAP_GO))
    head = fresh_chain.block_number()
    ensure_deployment(db, fresh_chain, production)
    assert fresh_chain.block_number() == head


def test_allowances_dry_run_shows_the_differences_and_sends_nothing(
    db: sessionmaker[Session], fresh_chain: ChainClient, chain_settings: Settings
) -> None:
    (town,) = _towns(db, "nishiaizu")
    assert _run("run_deploy", chain_settings)[0] == 0
    with db() as session:
        recorded = session.scalars(select(ChainDeployment)).one()
        fresh_chain.use_koku(recorded.token_address)
        assert recorded.bills_address is not None
        fresh_chain.use_bills(recorded.bills_address)
    with db.begin() as session:
        session.execute(update(MunicipalityPolicy).values(yearly_cap_go=CAP_GO + 250_000))
        logged = len(session.scalars(select(StaffLogEntry)).all())
    head = fresh_chain.block_number()

    # Both contracts: KOKU's cap is the yearly cap, the bills' allowance that times the
    # harvest ceiling (120% by default).
    bills_cap = (CAP_GO + 250_000) * 12_000 // 10_000
    code, shown = _run("run_allowances", chain_settings, dry_run=True, municipality=None)
    assert code == 0
    assert "+250,000" in shown
    assert "1,250,000" in shown
    assert f"bills     {bills_cap:,}" in shown
    assert f"+{bills_cap - CAP_GO * 12_000 // 10_000:,}" in shown
    assert "dry run: nothing sent" in shown
    assert fresh_chain.block_number() == head
    assert fresh_chain.season_cap(town_id(town), SEASON) == CAP_GO

    code, shown = _run("run_allowances", chain_settings, dry_run=False, municipality=None)
    assert code == 0
    assert "2 change(s) sent" in shown
    assert fresh_chain.season_cap(town_id(town), SEASON) == CAP_GO + 250_000
    assert fresh_chain.bills.season_cap(town_id(town), SEASON) == bills_cap
    with db() as session:
        rows = session.scalars(select(StaffLogEntry).order_by(StaffLogEntry.sequence)).all()
    assert len(rows) == logged + 2
    assert [row.action for row in rows[-2:]] == ["allowance.set", "allowance.set"]
    assert rows[-2].municipality_id == town
    assert '"cap_go":1250000' in rows[-2].data
    assert f'"cap_go":{bills_cap}' in rows[-1].data
    assert '"contract":"bills"' in rows[-1].data
    # In sync now: a second run sends nothing.
    head = fresh_chain.block_number()
    assert _run("run_allowances", chain_settings, dry_run=False, municipality=None) == (
        0,
        _run("run_allowances", chain_settings, dry_run=True, municipality=None)[1].replace(
            "dry run: nothing sent", "nothing to change"
        ),
    )
    assert fresh_chain.block_number() == head


def test_rotating_a_minter_keeps_the_towns_allowance_and_its_confirmed_mints(
    db: sessionmaker[Session], fresh_chain: ChainClient, chain_settings: Settings
) -> None:
    (town,) = _towns(db, "nishiaizu")
    ensure_deployment(db, fresh_chain, chain_settings)
    with db() as session:
        old = minter_for(session, town)
    minted_ref = issuance_ref(uuid.uuid4())
    _mint(fresh_chain, chain_settings, old, 300_000, minted_ref)

    code, shown = _run("run_rotate_minter", chain_settings, code="nishiaizu")
    assert code == 0
    with db() as session:
        new = minter_for(session, town)
    assert new.address != old.address
    assert old.address in shown
    assert fresh_chain.minter_of(new.town) == new.address
    assert not fresh_chain.is_minter(old.address)
    # The bills contract's minter of the town turned with it: one key signs a harvest.
    assert fresh_chain.bills.minter_of(new.town) == new.address
    assert fresh_chain.bills.town_of(old.address) == bytes(32)
    # The town's allowance and its confirmed mints stay with the town.
    assert fresh_chain.allowance_left(new.town, SEASON) == CAP_GO - 300_000
    assert fresh_chain.is_minted(new.town, minted_ref)
    assert fresh_chain.balance_of(HOLDER) == 300_000
    with pytest.raises(TransactionReverted):
        _mint(fresh_chain, chain_settings, old, 1, issuance_ref(uuid.uuid4()))
    # The new key resending the old batch mints nothing twice; it mints what is left.
    _mint(fresh_chain, chain_settings, new, 300_000, minted_ref)
    assert fresh_chain.balance_of(HOLDER) == 300_000
    _mint(fresh_chain, chain_settings, new, CAP_GO - 300_000, issuance_ref(uuid.uuid4()))
    assert fresh_chain.allowance_left(new.town, SEASON) == 0
    with db() as session:
        last = session.scalars(
            select(StaffLogEntry).order_by(StaffLogEntry.sequence.desc()).limit(1)
        ).one()
        recorded = session.scalars(select(ChainDeployment)).one()
    assert last.object_type == "town_minter"
    assert new.address in last.data
    assert '"contract":"bills"' in last.data
    assert recorded.token_address == fresh_chain.koku_address


def test_the_bills_contract_is_deployed_beside_a_deployment_from_before_it(
    db: sessionmaker[Session], fresh_chain: ChainClient, chain_settings: Settings
) -> None:
    (town,) = _towns(db, "nishiaizu")
    first = ensure_deployment(db, fresh_chain, chain_settings)
    assert first.bills_address is not None
    # A database from before the rice bills: its deployment names none.
    with db.begin() as session:
        session.execute(update(ChainDeployment).values(bills_address=None))
    production = chain_settings.model_copy(
        update={"env": Environment.production, "anchor_key": "0x" + "44" * 32}
    )
    head = fresh_chain.block_number()
    assert ensure_deployment(db, ChainClient(fresh_chain.rpc_url), production).bills_address is None
    assert fresh_chain.block_number() == head  # production only warns

    client = ChainClient(fresh_chain.rpc_url)
    again = ensure_deployment(db, client, chain_settings)
    assert again.bills_address is not None
    assert again.bills_address != first.bills_address
    assert client.bills.address == again.bills_address
    with db() as session:
        key = minter_for(session, town)
    assert client.bills.minter_of(town_id(town)) == key.address
    assert client.bills.season_cap(town_id(town), SEASON) == CAP_GO * 12_000 // 10_000
    assert client.bills.admin() == client.account(ANVIL_DEV_KEYS[0]).address


def test_a_cap_below_what_the_chain_minted_is_reported_not_sent(
    db: sessionmaker[Session],
    fresh_chain: ChainClient,
    chain_settings: Settings,
    capsys: pytest.CaptureFixture[str],
) -> None:
    (town,) = _towns(db, "nishiaizu")
    ensure_deployment(db, fresh_chain, chain_settings)
    with db() as session:
        key = minter_for(session, town)
    _mint(fresh_chain, chain_settings, key, 400, issuance_ref(uuid.uuid4()))
    # Only a direct edit can do this (the policy refuses a cap below what was issued).
    with db.begin() as session:
        session.execute(update(MunicipalityPolicy).values(yearly_cap_go=100))
    head = fresh_chain.block_number()
    code, shown = _run("run_allowances", chain_settings, dry_run=False, municipality="nishiaizu")
    assert code == 0
    assert "below minted: not settable" in shown
    # KOKU's cap stays; the bills' allowance, of which no work reserved anything, follows.
    assert "1 change(s) sent" in shown
    assert fresh_chain.block_number() == head + 1
    assert fresh_chain.season_cap(key.town, SEASON) == CAP_GO
    assert fresh_chain.bills.season_cap(key.town, SEASON) == 100 * 12_000 // 10_000

    assert _run("run_rotate_minter", chain_settings, code="nowhere")[0] == 2
    assert "unknown municipality: nowhere" in capsys.readouterr().err
