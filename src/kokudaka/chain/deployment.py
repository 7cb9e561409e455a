"""The KOKU contract this database settles on: deployed once, then only ever checked.

:func:`ensure_deployment` runs at every start of the service or of a settlement worker.

**The admin key is cold.** In production the service never holds the contract admin key
(``serve`` and ``worker`` refuse to start with ``KOKUDAKA_DEPLOYER_KEY`` set): deployment, the
towns' minters and their season caps are admin commands (``kokudaka chain deploy``,
``kokudaka chain allowances``, ``kokudaka chain rotate-minter``) that take the key for that
command only. There :func:`ensure_deployment` only checks the recorded deployment, and warns
about what the admin still has to do (a town whose minter or cap the chain does not have yet).

**In development** (``make run``, tests) the service does it all itself so that nothing needs
setting up: on the first start on a chain it deploys with anvil's first key (or the configured
one), and at every start it makes the towns' missing minter keys and sets every town's minter
and season caps (:func:`~kokudaka.chain.allowances.sync_allowances`).

- First start on a chain (no ``chain_deployments`` row for its chain id): :func:`deploy` KOKU
  and the rice bills contract beside it, grant ``ANCHOR_ROLE`` to the anchor key, set the towns'
  minters and caps on both, record chain id, addresses and deployment block.
- A deployment recorded before the rice bills (no ``bills_address``): development deploys the
  bills contract at start (:func:`deploy_bills`); production warns, and ``kokudaka chain deploy``
  deploys it.
- Later starts: check that code is still at the recorded address, and that it is the code of
  this version of ``contracts/Koku.sol``. A dev chain reset (anvil restarted without its state
  file) has none; the service then refuses to start rather than redeploy, because the ledger says
  tokens exist that the new chain would not have. A contract deployed from an older Koku.sol is
  refused too, with instructions: its functions are not the ones the service calls.

**Admin handover.** The contract's admin is handed over in two steps with a delay
(``AccessControlDefaultAdminRules``): :func:`admin_delay_seconds` is 2 days in production, long
enough for the towns to notice a scheduled handover they did not intend and cancel it, short
enough for a planned key rotation; 0 elsewhere, so a development chain or a test can rotate its
admin at once (the handover still takes two transactions, from both keys).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any, cast

from eth_utils.address import to_checksum_address
from sqlalchemy import CursorResult, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from kokudaka.chain.allowances import (
    Change,
    development_admin_key,
    plan_allowances,
    sync_allowances,
    sync_development_allowances,
)
from kokudaka.chain.client import ChainClient, PrivateKey
from kokudaka.chain.devkeys import ANVIL_DEV_KEYS
from kokudaka.chain.errors import ChainError
from kokudaka.chain.interface import ANCHOR_ROLE
from kokudaka.core.settings import Environment, Settings
from kokudaka.models import ChainDeployment
from kokudaka.towns.minters import ensure_town_minters

__all__ = [
    "PRODUCTION_ADMIN_DELAY_SECONDS",
    "DeploymentMismatch",
    "admin_delay_seconds",
    "anchor_key",
    "check_chain_id",
    "deploy",
    "deploy_bills",
    "ensure_deployment",
    "load_deployment",
]

logger = logging.getLogger(__name__)

#: Seconds a scheduled admin handover waits in production: two days (see the module notes).
PRODUCTION_ADMIN_DELAY_SECONDS = 2 * 24 * 60 * 60


class DeploymentMismatch(ChainError):
    """The chain does not match what the database recorded: refuse to settle on it."""

    code = "deployment_mismatch"


def anchor_key(settings: Settings) -> PrivateKey:
    """The key that anchors the staff audit log: ``settings.anchor_key``, or anvil's second
    key outside production (the settings refuse an empty or development key in production)."""
    if settings.anchor_key:
        return settings.anchor_key
    if settings.env is Environment.production:
        raise DeploymentMismatch("KOKUDAKA_ANCHOR_KEY is required in production")
    return ANVIL_DEV_KEYS[1]


def admin_delay_seconds(settings: Settings) -> int:
    """The admin handover delay a new deployment gets (see the module notes)."""
    return PRODUCTION_ADMIN_DELAY_SECONDS if settings.env is Environment.production else 0


def load_deployment(
    session_factory: sessionmaker[Session], chain_id: int
) -> ChainDeployment | None:
    with session_factory() as session:
        return session.scalar(select(ChainDeployment).where(ChainDeployment.chain_id == chain_id))


def check_chain_id(client: ChainClient, settings: Settings) -> int:
    """The node's chain id; :class:`DeploymentMismatch` unless it is the configured one."""
    chain_id = client.chain_id()
    if chain_id != settings.chain_id:
        raise DeploymentMismatch(
            f"the chain at {client.rpc_url} has chain id {chain_id}, "
            f"but KOKUDAKA_CHAIN_ID is {settings.chain_id}"
        )
    return chain_id


def _deployed_block(client: ChainClient, address: str, low: int, high: int) -> int:
    """The first block with code at ``address``, searched in ``(low, high]``.

    Binary search on historical ``eth_getCode``; ``low`` (the head before deploying) is a safe
    lower bound if the node keeps no history. Event scans start at this block.
    """
    checksum = to_checksum_address(address)
    try:
        while low + 1 < high:
            middle = (low + high) // 2
            if len(client.web3.eth.get_code(checksum, block_identifier=middle)) > 0:
                high = middle
            else:
                low = middle
    except Exception:
        logger.debug("no historical state to locate the deployment block", exc_info=True)
        return low
    return high


def deploy(
    session_factory: sessionmaker[Session],
    client: ChainClient,
    settings: Settings,
    admin_key: PrivateKey,
    *,
    on_change: Callable[[Change], None] | None = None,
) -> ChainDeployment:
    """Deploy KOKU with ``admin_key`` as its admin, grant ``ANCHOR_ROLE`` to the anchor key, set
    every town's minter and season caps, and record the deployment; return it.

    Refuses (:class:`DeploymentMismatch`) when this chain id has a deployment recorded already.
    ``on_change`` is called after each minter and cap transaction (see
    :func:`~kokudaka.chain.allowances.sync_allowances`). Towns without a minter key get one
    first, committed before the chain is told about it, so a key the chain knows is never lost.
    """
    chain_id = check_chain_id(client, settings)
    recorded = load_deployment(session_factory, chain_id)
    if recorded is not None:
        raise DeploymentMismatch(
            f"KOKU is already deployed on chain {chain_id} at {recorded.token_address} "
            f"(block {recorded.deployed_block}); a database settles on one contract"
        )
    with session_factory.begin() as session:
        ensure_town_minters(session, settings)
    anchor = client.account(anchor_key(settings)).address
    head_before = client.block_number()
    address = client.deploy_koku(admin_key, admin_delay=admin_delay_seconds(settings))
    block = _deployed_block(client, address, head_before, client.block_number())
    bills = client.bills.deploy(admin_key, admin_delay=admin_delay_seconds(settings))
    client.grant_anchor_role(admin_key, anchor)
    changes = sync_allowances(session_factory, client, admin_key, on_change=on_change)
    deployment = ChainDeployment(
        chain_id=chain_id,
        token_address=address,
        bills_address=bills,
        admin_address=client.account(admin_key).address,
        anchor_address=anchor,
        deployed_block=block,
    )
    try:
        with session_factory.begin() as session:
            session.add(deployment)
    except IntegrityError:
        # Another process deployed at the same moment and recorded first: use its contract.
        # Ours stays unused (nothing was minted on it).
        logger.warning("KOKU at %s was deployed concurrently and is not used", address)
        recorded = load_deployment(session_factory, chain_id)
        if recorded is None:
            raise
        return recorded
    logger.info(
        "deployed KOKU at %s and rice bills at %s on chain %s (block %s); anchor %s; "
        "%s minter and cap change(s)",
        address,
        bills,
        chain_id,
        block,
        anchor,
        len(changes),
    )
    return deployment


def deploy_bills(
    session_factory: sessionmaker[Session],
    client: ChainClient,
    settings: Settings,
    admin_key: PrivateKey,
) -> ChainDeployment:
    """Deploy the rice bills contract beside a recorded KOKU deployment that has none, record
    its address and point ``client.bills`` at it; return the deployment. The towns' minters and
    allowances on it are :func:`~kokudaka.chain.allowances.sync_allowances`'s to set."""
    chain_id = check_chain_id(client, settings)
    recorded = load_deployment(session_factory, chain_id)
    if recorded is None:
        raise DeploymentMismatch(f"no KOKU deployment is recorded for chain {chain_id}")
    if recorded.bills_address is not None:
        client.use_bills(recorded.bills_address)
        return recorded
    address = client.bills.deploy(admin_key, admin_delay=admin_delay_seconds(settings))
    with session_factory.begin() as session:
        # Only if still unset: another process deploying at the same moment keeps its own.
        set_here = session.execute(
            update(ChainDeployment)
            .where(ChainDeployment.id == recorded.id, ChainDeployment.bills_address.is_(None))
            .values(bills_address=address)
        )
    deployment = load_deployment(session_factory, chain_id)
    if deployment is None or deployment.bills_address is None:
        raise DeploymentMismatch(f"the deployment of chain {chain_id} vanished while recorded")
    if not cast(CursorResult[Any], set_here).rowcount:
        logger.warning("rice bills at %s were deployed concurrently and are not used", address)
    else:
        logger.info("deployed rice bills at %s beside KOKU on chain %s", address, chain_id)
    client.use_bills(deployment.bills_address)
    return deployment


def ensure_deployment(
    session_factory: sessionmaker[Session], client: ChainClient, settings: Settings
) -> ChainDeployment:
    """Return this chain's recorded KOKU deployment and point ``client`` at it.

    In development, deploy it on the very first start and sync the towns' minters and caps at
    every start; in production only check (see the module notes). Raises
    :class:`DeploymentMismatch` when the node answers another chain id than configured, when
    production has no deployment recorded, when the recorded contract has no code any more or
    runs another version; chain errors (e.g. :class:`~kokudaka.chain.errors.ChainUnavailable`)
    propagate for the caller to retry.
    """
    chain_id = check_chain_id(client, settings)
    admin_key = development_admin_key(settings)
    deployment = load_deployment(session_factory, chain_id)
    if deployment is None:
        if admin_key is None:
            raise DeploymentMismatch(
                f"no KOKU deployment is recorded for chain {chain_id}: deploy it with "
                "`kokudaka chain deploy` (KOKUDAKA_DEPLOYER_KEY set for that command only)"
            )
        deployment = deploy(session_factory, client, settings, admin_key)
    _check_code(client, deployment)
    client.use_koku(deployment.token_address)
    if deployment.bills_address is not None:
        _check_bills_code(client, deployment.bills_address)
        client.use_bills(deployment.bills_address)
    elif admin_key is not None:
        deployment = deploy_bills(session_factory, client, settings, admin_key)
    else:
        logger.warning(
            "no rice bills contract is recorded beside KOKU at %s: harvest conversions are not "
            "settled until it is deployed (`kokudaka chain deploy` with the admin key)",
            deployment.token_address,
        )
    anchor = client.account(anchor_key(settings)).address
    if admin_key is not None:
        if not client.has_role(ANCHOR_ROLE, anchor):
            client.grant_anchor_role(admin_key, anchor)
        sync_development_allowances(session_factory, client, settings)
        return deployment
    _warn_what_the_admin_has_to_do(session_factory, client, anchor)
    return deployment


def _check_code(client: ChainClient, deployment: ChainDeployment) -> None:
    if not client.code_exists(deployment.token_address):
        raise DeploymentMismatch(
            f"the chain at {client.rpc_url} lost the KOKU contract deployed at "
            f"{deployment.token_address} (chain id {deployment.chain_id}, block "
            f"{deployment.deployed_block}): it was reset or restarted without its state; "
            "refusing to diverge from the ledger. Restore the chain's state (for the managed "
            "anvil, <data_dir>/chain/anvil-state.json), or point KOKUDAKA_CHAIN_RPC_URL at the "
            "chain that holds it."
        )
    if not client.runs_this_koku(deployment.token_address):
        raise DeploymentMismatch(
            f"KOKU at {deployment.token_address} (chain id {deployment.chain_id}) was deployed "
            "from another version of contracts/Koku.sol than this service calls; refusing to "
            "settle on it. On a development chain, stop the service and start afresh: move the "
            "data directory aside (its database and <data_dir>/chain together, they belong "
            "together) and run it again. A production chain needs a planned migration to the "
            "new contract."
        )


def _check_bills_code(client: ChainClient, address: str) -> None:
    if not client.bills.runs_this_version(address):
        raise DeploymentMismatch(
            f"the rice bills contract at {address} is missing or was deployed from another "
            "version of contracts/KokuBills.sol than this service calls; refusing to settle on "
            "it (see the KOKU message for a development chain: start afresh)"
        )


def _warn_what_the_admin_has_to_do(
    session_factory: sessionmaker[Session], client: ChainClient, anchor: str
) -> None:
    """Production: name what the chain lacks; settlement of those towns waits for the admin."""
    if not client.has_role(ANCHOR_ROLE, anchor):
        logger.warning(
            "the anchor key %s does not hold ANCHOR_ROLE on KOKU: the staff audit log is not "
            "anchored until an administrator grants it",
            anchor,
        )
    with session_factory() as session:
        plan = plan_allowances(session, client)
    for minter in plan.minters:
        if minter.differs:
            logger.warning(
                "town %s: its %s minter on chain is %s, not its key %s; run `kokudaka chain "
                "allowances` with the admin key",
                minter.code,
                minter.contract,
                minter.chain_minter or "none",
                minter.sql_minter,
            )
    for cap in plan.caps:
        if cap.difference_go > 0:
            logger.warning(
                "town %s season %s: the chain's %s cap is %s go, its policy's %s go; run "
                "`kokudaka chain allowances` with the admin key",
                cap.code,
                cap.season,
                cap.contract,
                cap.chain_cap_go,
                cap.sql_cap_go,
            )
