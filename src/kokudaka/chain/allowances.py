"""Each town's minter and season caps on chain, against the database: the difference and its sync.

The chain knows a town by :func:`~kokudaka.chain.refs.town_id`. For every town it should have the
town's active minter key (``town_minters``) as its minter, and for every season with a policy
the town's yearly cap (``municipality_policies.yearly_cap_go``) as its season cap. Changing a
cap in SQL does not change the chain: closing the difference is an admin transaction
(:func:`sync_allowances`), sent by ``kokudaka chain allowances`` with the cold admin key, or by
the service itself in development only (:func:`development_admin_key`).

A cap is never set below what the town already minted on chain (the contract would revert
``CapBelowMinted``): such a row is reported and left alone.

The rice bills contract (when deployed) has the same town minters, and per town and season a
bill allowance of ⌊yearly cap × the season's harvest ceiling ÷ 10,000⌋ go: a board is at most
the KOKU issued for it, so the season's bills can never exceed it. Its "minted" is what the
town's registered works reserve of it (the contract refuses a cap below that).
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from enum import StrEnum

from eth_utils.address import to_checksum_address
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from kokudaka.chain.client import ChainClient, PrivateKey
from kokudaka.chain.devkeys import ANVIL_DEV_KEYS
from kokudaka.chain.refs import town_id
from kokudaka.core.settings import Environment, Settings
from kokudaka.models import Municipality, MunicipalityPolicy
from kokudaka.towns.minters import active_minters, ensure_town_minters

__all__ = [
    "AllowancePlan",
    "Change",
    "ChangeKind",
    "Contract",
    "MinterRow",
    "SeasonCapRow",
    "bill_allowance_go",
    "development_admin_key",
    "fund_development_minters",
    "plan_allowances",
    "sync_allowances",
    "sync_development_allowances",
]

logger = logging.getLogger(__name__)

#: Ether a town's minter gets from the development admin key for gas: thousands of batches.
DEVELOPMENT_MINTER_FUNDING_WEI = 10 * 10**18


def development_admin_key(settings: Settings) -> PrivateKey | None:
    """The admin key the service may use by itself: only outside production (the configured
    deployer key, else anvil's first key). ``None`` in production, where the key is cold."""
    if settings.env is Environment.production:
        return None
    return settings.deployer_key or ANVIL_DEV_KEYS[0]


class Contract(StrEnum):
    """Which contract a row or change is about."""

    koku = "koku"
    bills = "bills"


def bill_allowance_go(yearly_cap_go: int, harvest_ceiling_bp: int) -> int:
    """A town's bill allowance for a season: its yearly KOKU cap times the harvest ceiling."""
    return yearly_cap_go * harvest_ceiling_bp // 10_000


@dataclass(frozen=True, slots=True)
class MinterRow:
    """A town's minter in the database and on chain."""

    municipality_id: uuid.UUID
    code: str
    town: bytes
    sql_minter: str | None
    """The town's active key; None when it has none yet (see ``ensure_town_minters``)."""
    chain_minter: str | None
    contract: Contract = Contract.koku

    @property
    def differs(self) -> bool:
        return self.sql_minter is not None and self.sql_minter != self.chain_minter


@dataclass(frozen=True, slots=True)
class SeasonCapRow:
    """A town's cap for one season: its policy, the chain's cap, what it minted on chain."""

    municipality_id: uuid.UUID
    code: str
    town: bytes
    season: int
    sql_cap_go: int
    chain_cap_go: int
    chain_minted_go: int
    """KOKU: minted in the season; bills: what the town's registered works reserve."""
    contract: Contract = Contract.koku

    @property
    def difference_go(self) -> int:
        """What ``setSeasonCap`` would add (negative: take away) to the chain's cap."""
        return self.sql_cap_go - self.chain_cap_go

    @property
    def below_minted(self) -> bool:
        """The policy's cap is below what the chain already minted: it cannot be set."""
        return self.sql_cap_go < self.chain_minted_go

    @property
    def settable(self) -> bool:
        return self.difference_go != 0 and not self.below_minted


@dataclass(frozen=True, slots=True)
class AllowancePlan:
    """Every town's minter and season caps, database against chain."""

    minters: tuple[MinterRow, ...]
    caps: tuple[SeasonCapRow, ...]

    @property
    def in_sync(self) -> bool:
        return not any(row.differs for row in self.minters) and not any(
            row.settable for row in self.caps
        )


class ChangeKind(StrEnum):
    town_minter = "town_minter"
    """``setTownMinter``: the chain's minter of the town became its active key."""
    season_cap = "season_cap"
    """``setSeasonCap``: the town's cap for a season became its policy's yearly cap."""


@dataclass(frozen=True, slots=True)
class Change:
    """One admin transaction sent by :func:`sync_allowances`, confirmed."""

    kind: ChangeKind
    municipality_id: uuid.UUID
    code: str
    tx_hash: str
    minter: str | None = None
    previous_minter: str | None = None
    season: int | None = None
    cap_go: int | None = None
    previous_cap_go: int | None = None
    contract: Contract = Contract.koku


def plan_allowances(
    session: Session, client: ChainClient, *, municipality_id: uuid.UUID | None = None
) -> AllowancePlan:
    """Read every town's (or one town's) minter and caps from the database and the chain (the
    bills contract's too when ``client`` has one)."""
    towns = select(Municipality.id, Municipality.code).order_by(Municipality.code)
    policies = (
        select(
            MunicipalityPolicy.municipality_id,
            Municipality.code,
            MunicipalityPolicy.season,
            MunicipalityPolicy.yearly_cap_go,
            MunicipalityPolicy.harvest_ceiling_bp,
        )
        .join(Municipality, Municipality.id == MunicipalityPolicy.municipality_id)
        .order_by(Municipality.code, MunicipalityPolicy.season)
    )
    if municipality_id is not None:
        towns = towns.where(Municipality.id == municipality_id)
        policies = policies.where(MunicipalityPolicy.municipality_id == municipality_id)
    keys = {key.municipality_id: key.address for key in active_minters(session)}
    bills = client.bills if client.has_bills else None
    minters = []
    for row in session.execute(towns):
        town = town_id(row.id)
        sql_minter = to_checksum_address(keys[row.id]) if row.id in keys else None
        minters.append(
            MinterRow(row.id, row.code, town, sql_minter, client.minter_of(town), Contract.koku)
        )
        if bills is not None:
            minters.append(
                MinterRow(row.id, row.code, town, sql_minter, bills.minter_of(town), Contract.bills)
            )
    caps = []
    for policy in session.execute(policies):
        town = town_id(policy.municipality_id)
        caps.append(
            SeasonCapRow(
                municipality_id=policy.municipality_id,
                code=policy.code,
                town=town,
                season=policy.season,
                sql_cap_go=policy.yearly_cap_go,
                chain_cap_go=client.season_cap(town, policy.season),
                chain_minted_go=client.season_minted(town, policy.season),
            )
        )
        if bills is not None:
            caps.append(
                SeasonCapRow(
                    municipality_id=policy.municipality_id,
                    code=policy.code,
                    town=town,
                    season=policy.season,
                    sql_cap_go=bill_allowance_go(policy.yearly_cap_go, policy.harvest_ceiling_bp),
                    chain_cap_go=bills.season_cap(town, policy.season),
                    chain_minted_go=bills.season_reserved(town, policy.season),
                    contract=Contract.bills,
                )
            )
    return AllowancePlan(minters=tuple(minters), caps=tuple(caps))


def sync_allowances(
    session_factory: sessionmaker[Session],
    client: ChainClient,
    admin_key: PrivateKey,
    *,
    municipality_id: uuid.UUID | None = None,
    on_change: Callable[[Change], None] | None = None,
) -> list[Change]:
    """Send ``setTownMinter`` and ``setSeasonCap`` for every difference; return them.

    Each transaction is waited for; ``on_change`` is called after each one is confirmed (the
    commands append it to the staff audit log there). No database transaction is open while
    the chain is called. Caps below what was minted on chain are skipped with a warning.
    Idempotent: a second run finds nothing to change.
    """
    with session_factory() as session:
        plan = plan_allowances(session, client, municipality_id=municipality_id)
    changes: list[Change] = []

    def record(change: Change) -> None:
        changes.append(change)
        if on_change is not None:
            on_change(change)

    for minter in plan.minters:
        if not minter.differs:
            continue
        assert minter.sql_minter is not None
        if minter.contract is Contract.bills:
            tx_hash = client.bills.set_town_minter(admin_key, minter.town, minter.sql_minter)
        else:
            tx_hash = client.set_town_minter(admin_key, minter.town, minter.sql_minter)
        logger.info(
            "town %s: %s minter %s (was %s)",
            minter.code,
            minter.contract,
            minter.sql_minter,
            minter.chain_minter,
        )
        record(
            Change(
                kind=ChangeKind.town_minter,
                municipality_id=minter.municipality_id,
                code=minter.code,
                tx_hash=tx_hash,
                minter=minter.sql_minter,
                previous_minter=minter.chain_minter,
                contract=minter.contract,
            )
        )
    for cap in plan.caps:
        if cap.below_minted and cap.difference_go != 0:
            logger.warning(
                "town %s season %s: cap %s go is below the %s go minted on chain; not set",
                cap.code,
                cap.season,
                cap.sql_cap_go,
                cap.chain_minted_go,
            )
        if not cap.settable:
            continue
        if cap.contract is Contract.bills:
            tx_hash = client.bills.set_season_cap(admin_key, cap.town, cap.season, cap.sql_cap_go)
        else:
            tx_hash = client.set_season_cap(admin_key, cap.town, cap.season, cap.sql_cap_go)
        logger.info(
            "town %s season %s: %s cap %s go (was %s)",
            cap.code,
            cap.season,
            cap.contract,
            cap.sql_cap_go,
            cap.chain_cap_go,
        )
        record(
            Change(
                kind=ChangeKind.season_cap,
                municipality_id=cap.municipality_id,
                code=cap.code,
                tx_hash=tx_hash,
                season=cap.season,
                cap_go=cap.sql_cap_go,
                previous_cap_go=cap.chain_cap_go,
                contract=cap.contract,
            )
        )
    return changes


def fund_development_minters(
    client: ChainClient, admin_key: PrivateKey, addresses: Iterable[str]
) -> int:
    """Send :data:`DEVELOPMENT_MINTER_FUNDING_WEI` to each address holding less than a tenth of
    it; returns how many were funded. Development only: a fresh minter key has no ether for gas,
    and on a development chain the admin key has plenty. In production the operator funds them.
    """
    admin = client.account(admin_key)
    funded = 0
    for address in addresses:
        balance = int(client.rpc("eth_getBalance", [to_checksum_address(address), "latest"]), 16)
        if balance >= DEVELOPMENT_MINTER_FUNDING_WEI // 10:
            continue
        fees = client.fees()
        signed = admin.sign_transaction(
            {
                "type": 2,
                "chainId": client.chain_id(),
                "nonce": client.pending_nonce(admin.address),
                "to": to_checksum_address(address),
                "value": DEVELOPMENT_MINTER_FUNDING_WEI,
                "gas": 21_000,
                "maxFeePerGas": fees.max_fee_per_gas,
                "maxPriorityFeePerGas": fees.max_priority_fee_per_gas,
            }
        )
        tx_hash = client.send_raw(bytes(signed.raw_transaction))
        client.raise_for_receipt(client.wait_receipt(tx_hash), context="fund minter")
        funded += 1
    return funded


def sync_development_allowances(
    session_factory: sessionmaker[Session],
    client: ChainClient,
    settings: Settings,
    *,
    municipality_id: uuid.UUID | None = None,
) -> list[Change]:
    """Development only (``[]`` in production, where the admin key is cold): make the towns'
    missing minter keys, fund them with ether for gas, and :func:`sync_allowances`.

    The settlement worker calls it in development when a town has no minter or no cap on chain
    (a town or a season's policy created while it runs), so ``make run`` needs no admin step.
    ``client`` must point at the deployed contract.
    """
    admin_key = development_admin_key(settings)
    if admin_key is None:
        return []
    with session_factory.begin() as session:
        ensure_town_minters(session, settings)
    with session_factory() as session:
        addresses = [key.address for key in active_minters(session)]
    fund_development_minters(client, admin_key, addresses)
    return sync_allowances(session_factory, client, admin_key, municipality_id=municipality_id)
