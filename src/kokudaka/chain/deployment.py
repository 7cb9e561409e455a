"""The KOKU contract this database settles on: deployed once, then only ever checked.

:func:`ensure_deployment` runs at every start of the service or of a settlement worker.

- First start on a chain (no ``chain_deployments`` row for its chain id): deploy KOKU with the
  deployer key (the contract admin), make the minter key a minter with the allowance below, and
  record chain id, addresses and deployment block.
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

**Minter allowance.** The contract gives the minter an allowance that every mint spends (the USDC
minter model), so a leaked minter key can create at most what is left of it. The allowance is
tied to the towns' policy: the sum of every municipality's yearly caps (all seasons) minus what
has already been minted (confirmed in SQL). The per-town, per-season caps themselves are enforced
in SQL when an issuance is written (``ledger.service.issue``); the on-chain allowance is the
second fuse, a global ceiling that cannot be exceeded even if the SQL checks were bypassed. The
allowance is set at deployment and topped up by :func:`top_up_minter_allowance` when the
settlement worker runs short (a new season's caps, new towns). ``configureMinter`` *sets* the
allowance, so the worker tops up only when none of its own transactions are in flight; another
worker's in-flight mints can make the new allowance exceed the ideal figure by at most what those
transactions carry, until the next top-up. Per-municipality minters would make the chain enforce
each town's cap exactly, at the price of one key per town; that is the path if towns come to run
their own minters.
"""

from __future__ import annotations

import logging

from eth_utils.address import to_checksum_address
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from kokudaka.chain.client import ChainClient
from kokudaka.chain.devkeys import ANVIL_DEV_KEYS
from kokudaka.chain.errors import ChainError
from kokudaka.core.settings import Environment, Settings
from kokudaka.models import (
    ChainDeployment,
    ChainOperation,
    ChainOperationKind,
    ChainState,
    MunicipalityPolicy,
)

__all__ = [
    "PRODUCTION_ADMIN_DELAY_SECONDS",
    "DeploymentMismatch",
    "admin_delay_seconds",
    "allowance_target_go",
    "chain_keys",
    "ensure_deployment",
    "load_deployment",
    "top_up_minter_allowance",
]

logger = logging.getLogger(__name__)

#: Seconds a scheduled admin handover waits in production: two days (see the module notes).
PRODUCTION_ADMIN_DELAY_SECONDS = 2 * 24 * 60 * 60


class DeploymentMismatch(ChainError):
    """The chain does not match what the database recorded: refuse to settle on it."""

    code = "deployment_mismatch"


def chain_keys(settings: Settings) -> tuple[str, str]:
    """The (deployer, minter) private keys.

    Empty keys mean anvil's first two development keys, but only in development and test; the
    settings validator refuses empty and development keys in production.
    """
    deployer, minter = settings.deployer_key, settings.minter_key
    if settings.env is Environment.production and not (deployer and minter):
        raise DeploymentMismatch(
            "KOKUDAKA_DEPLOYER_KEY and KOKUDAKA_MINTER_KEY are required in production"
        )
    return deployer or ANVIL_DEV_KEYS[0], minter or ANVIL_DEV_KEYS[1]


def admin_delay_seconds(settings: Settings) -> int:
    """The admin handover delay a new deployment gets (see the module notes)."""
    return PRODUCTION_ADMIN_DELAY_SECONDS if settings.env is Environment.production else 0


def allowance_target_go(session: Session) -> int:
    """What the minter should still be allowed to mint: all yearly caps minus confirmed mints."""
    caps = session.scalar(select(func.coalesce(func.sum(MunicipalityPolicy.yearly_cap_go), 0)))
    minted = session.scalar(
        select(func.coalesce(func.sum(ChainOperation.amount_go), 0)).where(
            ChainOperation.kind == ChainOperationKind.mint,
            ChainOperation.state == ChainState.confirmed,
        )
    )
    return max(int(caps or 0) - int(minted or 0), 0)


def load_deployment(
    session_factory: sessionmaker[Session], chain_id: int
) -> ChainDeployment | None:
    with session_factory() as session:
        return session.scalar(select(ChainDeployment).where(ChainDeployment.chain_id == chain_id))


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


def ensure_deployment(
    session_factory: sessionmaker[Session], client: ChainClient, settings: Settings
) -> ChainDeployment:
    """Return this chain's recorded KOKU deployment, deploying it on the very first start.

    Points ``client`` at the contract. Raises :class:`DeploymentMismatch` when the node answers
    another chain id than configured, when the recorded contract has no code any more, or when
    the configured minter is not the recorded one; chain errors (e.g.
    :class:`~kokudaka.chain.errors.ChainUnavailable`) propagate for the caller to retry.
    """
    chain_id = client.chain_id()
    if chain_id != settings.chain_id:
        raise DeploymentMismatch(
            f"the chain at {client.rpc_url} has chain id {chain_id}, "
            f"but KOKUDAKA_CHAIN_ID is {settings.chain_id}"
        )
    deployer_key, minter_key = chain_keys(settings)
    minter = client.account(minter_key).address
    deployment = load_deployment(session_factory, chain_id)
    if deployment is not None:
        return _check_existing(client, deployment, minter)

    head_before = client.block_number()
    address = client.deploy_koku(deployer_key, admin_delay=admin_delay_seconds(settings))
    block = _deployed_block(client, address, head_before, client.block_number())
    with session_factory() as session:
        allowance = allowance_target_go(session)
    client.configure_minter(deployer_key, minter, allowance)
    deployment = ChainDeployment(
        chain_id=chain_id,
        token_address=address,
        admin_address=client.account(deployer_key).address,
        minter_address=minter,
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
        return _check_existing(client, recorded, minter)
    logger.info(
        "deployed KOKU at %s on chain %s (block %s); minter %s allowed %s go",
        address,
        chain_id,
        block,
        minter,
        allowance,
    )
    return deployment


def _check_existing(
    client: ChainClient, deployment: ChainDeployment, minter: str
) -> ChainDeployment:
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
    if to_checksum_address(minter) != to_checksum_address(deployment.minter_address):
        raise DeploymentMismatch(
            f"KOKUDAKA_MINTER_KEY is the key of {minter}, but KOKU at {deployment.token_address} "
            f"was set up for minter {deployment.minter_address}; configure the new minter on the "
            "contract and update chain_deployments before switching keys"
        )
    client.use_koku(deployment.token_address)
    if not client.is_minter(minter):
        logger.warning(
            "%s is not a minter of KOKU at %s: settlement will fail until an administrator "
            "configures it",
            minter,
            deployment.token_address,
        )
    return deployment


def top_up_minter_allowance(
    session_factory: sessionmaker[Session],
    client: ChainClient,
    settings: Settings,
    deployment: ChainDeployment,
) -> int:
    """Set the minter's allowance to :func:`allowance_target_go` if it is below; return it.

    Sends one admin transaction and waits for it (no database transaction is open meanwhile).
    Call it only while the calling worker has no mint in flight: see the module notes.
    """
    deployer_key, _ = chain_keys(settings)
    with session_factory() as session:
        target = allowance_target_go(session)
    current = client.minter_allowance(deployment.minter_address)
    if current >= target:
        return current
    client.configure_minter(deployer_key, deployment.minter_address, target)
    logger.info("minter %s allowance topped up to %s go", deployment.minter_address, target)
    return target
