"""The chain side of a running service: the node, the deployment and the settlement worker.

:class:`ChainRuntime` is started by the app's lifespan when ``KOKUDAKA_CHAIN_ENABLED`` is true.
With ``KOKUDAKA_CHAIN_RPC_URL`` empty it runs and supervises a local anvil, its state kept in
``<data_dir>/chain/anvil-state.json`` (restarted if it dies; watched to check that the state file
is written every ``KOKUDAKA_ANVIL_STATE_INTERVAL`` seconds; stopped with SIGTERM so the state is
written once more); otherwise it connects to the given node. It then checks or makes the KOKU
deployment (:func:`~kokudaka.chain.deployment.ensure_deployment`) and runs the towns' settlement
workers (:class:`~kokudaka.settlement.pool.SettlementPool`: one per town minter, each in its own
thread). In development a worker whose town reaches its on-chain cap raises it to the town's
policy itself (:func:`~kokudaka.chain.allowances.sync_allowances`, with the development admin
key); in production the service holds no admin key and the town's mints wait for
``kokudaka chain allowances``.

``kokudaka worker`` runs :func:`run_worker`: the same, in its own process, without starting an
anvil unless asked to (with an empty RPC URL it connects to the anvil that ``kokudaka serve``
manages on ``KOKUDAKA_ANVIL_PORT``). Several workers and services may settle one database.
"""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Callable
from pathlib import Path
from types import FrameType

from sqlalchemy.orm import Session, sessionmaker

from kokudaka.audit.anchoring import anchor_schedule
from kokudaka.chain.allowances import development_admin_key, sync_development_allowances
from kokudaka.chain.client import ChainClient
from kokudaka.chain.deployment import DeploymentMismatch, ensure_deployment
from kokudaka.chain.errors import ChainError, ChainUnavailable
from kokudaka.chain.node import AnvilNode, NodeUsage, StateHealth
from kokudaka.core.db import create_sessionmaker
from kokudaka.core.engines import create_db_engine
from kokudaka.core.settings import Settings
from kokudaka.expiry.schedule import BillJobs
from kokudaka.models import ChainDeployment
from kokudaka.settlement.outcomes import backoff_seconds
from kokudaka.settlement.pool import SettlementPool
from kokudaka.settlement.worker import DevelopmentSync
from kokudaka.towns.minters import TownMinterKey

__all__ = [
    "ANVIL_BLOCK_TIME",
    "ANVIL_GAS_LIMIT",
    "ANVIL_STATE_HISTORY",
    "ChainRuntime",
    "development_top_up",
    "managed_anvil",
    "prepare_managed_anvil",
    "run_worker",
]

logger = logging.getLogger(__name__)

#: Seconds between the managed anvil's blocks while transactions wait (mined on demand, see
#: kokudaka.settlement for why not automine).
ANVIL_BLOCK_TIME = 1.0
#: Block gas limit of the managed anvil: ~60 full mint batches (~19k issuances) per block, so
#: the chain keeps up with the worker. Each transaction stays under the 2**24 cap of EIP-7825.
ANVIL_GAS_LIMIT = 1_000_000_000
#: Blocks whose state the managed anvil keeps (``--prune-history``): a minute of 1 s blocks, so a
#: reconciliation pinned to one block (1,000,000 issuances in under 60 s) can read it to the end.
#: anvil's default keeps 1,500 full copies of the state in memory, one made every block: minting
#: 1,000,000 issuances took it past 18 GB, and an idle chain of 100,000 mints grew ~8 MB a second.
#: anvil 1.7.1 honours the number only without interval mining, hence mining on demand.
ANVIL_STATE_HISTORY = 64


def managed_anvil(settings: Settings) -> AnvilNode:
    """The local anvil the service manages: fixed port, state file, interval mining.

    Every path is absolute (``data_dir`` is resolved when the settings are read, and again here
    for settings built in code): anvil runs in the chain directory, where a relative state path
    would name a directory that does not exist, and every dump would fail.
    """
    chain_dir = Path(settings.data_dir).absolute() / "chain"
    return AnvilNode(
        chain_dir,
        port=settings.anvil_port,
        chain_id=settings.chain_id,
        state_file=chain_dir / "anvil-state.json",
        state_interval=settings.anvil_state_interval,
        gas_limit=ANVIL_GAS_LIMIT,
        state_history=ANVIL_STATE_HISTORY,
        # Blocks only while transactions wait (ChainRuntime._mine): interval mining made a block
        # a second for ever, each ~1.7 KB of memory and state file (~50 GB a year) and, on a
        # chain with many mints, a share of a core (bench/chain_memory.py).
        mine_on_demand=True,
    )


def prepare_managed_anvil(settings: Settings) -> None:
    """Before a service starts: stop the managed anvil a crashed run left behind, and raise
    :class:`~kokudaka.chain.errors.AnvilPortInUse` if another process holds its port, so
    ``kokudaka serve`` can refuse at once, before migrating or binding anything."""
    if settings.chain_enabled and not settings.chain_rpc_url:
        managed_anvil(settings).claim_port()


def development_top_up(
    session_factory: sessionmaker[Session],
    rpc_url: str,
    token_address: str,
    settings: Settings,
    *,
    bills_address: str | None = None,
) -> DevelopmentSync | None:
    """How a town's worker brings its town on chain in development (a new town, a rotated key,
    a cap reached): the town's minter, gas and caps synced to the database with the development
    admin key. None in production, where the service holds no admin key."""
    if development_admin_key(settings) is None:
        return None
    # One admin transaction at a time: the towns' workers share the admin key's nonces.
    lock = threading.Lock()

    def top_up(minter: TownMinterKey) -> None:
        with lock:
            client = ChainClient(rpc_url, koku_address=token_address)
            if bills_address is not None:
                client.use_bills(bills_address)
            sync_development_allowances(
                session_factory, client, settings, municipality_id=minter.municipality_id
            )

    return top_up


class ChainRuntime:
    """Node, client, deployment and settlement threads of one process.

    ``deployment`` stays ``None`` until the deployment is checked (the ``/v1/chain`` endpoints
    answer 503 meanwhile); ``client`` is for request handlers (the worker has its own).
    """

    def __init__(
        self,
        settings: Settings,
        session_factory: sessionmaker[Session],
        *,
        manage_anvil: bool | None = None,
        start_worker: bool = True,
        supervise_interval: float = 1.0,
    ) -> None:
        self.settings = settings
        self.session_factory = session_factory
        manage = not settings.chain_rpc_url if manage_anvil is None else manage_anvil
        self.node: AnvilNode | None = managed_anvil(settings) if manage else None
        self.rpc_url = settings.chain_rpc_url or f"http://127.0.0.1:{settings.anvil_port}"
        self.client = ChainClient(self.rpc_url)
        self.deployment: ChainDeployment | None = None
        self.settlement: SettlementPool | None = None
        self.start_worker = start_worker
        self.supervise_interval = supervise_interval
        self._stop = threading.Event()
        self._stop_mining = threading.Event()
        """Set after every other thread has stopped: one may be waiting for a block."""
        self._threads: list[threading.Thread] = []
        self._miner: threading.Thread | None = None
        self.error: BaseException | None = None
        """Why settlement is not running, if it is not (shown by health checks and logs)."""

    def start(self) -> None:
        """Start the node (if managed), check the deployment, start the worker thread.

        Raises :class:`DeploymentMismatch` (a chain that lost the contract) so the service does
        not start on it. An unreachable external node only delays settlement: the deployment
        check is retried in the background.
        """
        try:
            if self.node is not None:
                self.node.start()
                self._spawn(self._supervise, "anvil-supervisor")
                self._miner = self._spawn(self._mine, "anvil-miner")
            self._connect()
        except ChainUnavailable as exc:
            if self.node is not None and not self.node.running:
                self.stop()
                raise
            logger.warning(
                "chain at %s unavailable (%s); retrying in the background", self.rpc_url, exc
            )
            self._spawn(self._connect_then_settle, "chain-connect")
            if self.start_worker:
                self._spawn(self._anchor, "audit-anchor")
                self._spawn(self._bill_jobs, "bill-jobs")
            return
        except BaseException:
            self.stop()  # no orphaned anvil when the service refuses to start
            raise
        if self.start_worker:
            self._spawn(self._settle, "settlement")
            self._spawn(self._anchor, "audit-anchor")
            self._spawn(self._bill_jobs, "bill-jobs")

    def state_health(self) -> StateHealth | None:
        """Whether the managed anvil's state is being written; None for an external node."""
        return None if self.node is None else self.node.state_health()

    def node_usage(self) -> NodeUsage | None:
        """The managed anvil's memory and state file size; None for an external node."""
        return None if self.node is None else self.node.usage()

    def stop(self, timeout: float = 30.0) -> None:
        """Stop the worker, then the miner, then the node (SIGTERM, so anvil writes its
        state). The miner goes last: a thread stopping may be waiting for its transaction's
        block (a town's set-up on the development chain), which only the miner makes."""
        self._stop.set()
        for thread in self._threads:
            if thread is not self._miner:
                thread.join(timeout)
        self._stop_mining.set()
        if self._miner is not None:
            self._miner.join(timeout)
        self._threads.clear()
        self._miner = None
        if self.node is not None:
            self.node.stop()

    def __enter__(self) -> ChainRuntime:
        self.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.stop()

    # ------------------------------------------------------------------ internals

    def _spawn(self, target: Callable[[], None], name: str) -> threading.Thread:
        thread = threading.Thread(target=target, name=f"kokudaka-{name}", daemon=True)
        thread.start()
        self._threads.append(thread)
        return thread

    def _connect(self) -> None:
        deployment = ensure_deployment(self.session_factory, self.client, self.settings)
        self.deployment = deployment
        self.settlement = SettlementPool(
            self.session_factory,
            lambda: ChainClient(self.rpc_url, koku_address=deployment.token_address),
            self.settings,
            deployment,
            top_up=development_top_up(
                self.session_factory,
                self.rpc_url,
                deployment.token_address,
                self.settings,
                bills_address=deployment.bills_address,
            ),
        )

    def _connect_then_settle(self) -> None:
        attempt = 0
        while not self._stop.is_set():
            try:
                self._connect()
            except ChainUnavailable as exc:
                attempt += 1
                pause = backoff_seconds(attempt, base=1.0, cap=60.0)
                logger.warning("chain still unavailable (%s); retry in %.1fs", exc, pause)
                self._stop.wait(pause)
                continue
            except ChainError as exc:
                self.error = exc
                logger.critical("settlement not started: %s", exc)
                return
            break
        if self.start_worker and not self._stop.is_set():
            self._settle()

    def _anchor(self) -> None:
        """Anchor the staff audit log's head every ``KOKUDAKA_AUDIT_ANCHOR_SECONDS``, once
        the deployment is known."""
        while self.deployment is None:
            if self._stop.wait(1.0):
                return
        schedule = anchor_schedule(
            self.settings, self.session_factory, self.rpc_url, self.deployment.token_address
        )
        schedule.run(self._stop)

    def _bill_jobs(self) -> None:
        """The bills' daily work (expiry notices, gifts of expired bills) in the process that
        settles, so what it writes to the outbox is settled here too."""
        BillJobs(self.session_factory, self.settings.bill_jobs_seconds).run(self._stop)

    def _settle(self) -> None:
        assert self.settlement is not None
        self.settlement.run_forever(self._stop)
        if self.settlement.fatal_error is not None:
            self.error = self.settlement.fatal_error

    def _supervise(self) -> None:
        """Restart the managed anvil if it dies; the worker notices the gap and repairs it.

        Also watch that its state file is written: a chain whose state is not saved loses the
        KOKU contract at the next restart, and the service then refuses to start on it.
        """
        assert self.node is not None
        failures = 0
        persisted: bool | None = True
        while not self._stop.wait(self.supervise_interval):
            if self.node.running:
                failures = 0
                persisted = self._watch_state(persisted)
                self.node.rotate_log()
                continue
            failures += 1
            logger.error("managed anvil is not running; restarting it (attempt %s)", failures)
            try:
                self.node.start()
            except ChainError as exc:
                logger.error("anvil restart failed: %s", exc)
                self._stop.wait(backoff_seconds(failures, base=1.0, cap=30.0))

    def _mine(self) -> None:
        """Mine a block every block time while transactions wait in the managed anvil's pool.

        What interval mining did, less the empty blocks: one block takes every ready
        transaction (up to the block gas limit), so pipelined batches still share a block.
        """
        assert self.node is not None
        block_time = self.settings.anvil_block_time or ANVIL_BLOCK_TIME
        while not self._stop_mining.wait(block_time):
            if not self.node.running:
                continue  # the supervisor restarts it
            try:
                status = self.client.rpc("txpool_status")
                if int(status["pending"], 16) > 0:
                    self.client.rpc("evm_mine")
            except (ChainError, KeyError, TypeError, ValueError) as exc:
                logger.debug("mining the managed anvil failed: %s", exc)

    def _watch_state(self, was_persisted: bool | None) -> bool | None:
        """Log when the state file stops (or starts again) being written; returns the state."""
        assert self.node is not None
        health = self.node.state_health()
        if health.persisted is False and was_persisted is not False:
            errors = self.node.log_errors()
            logger.critical(
                "anvil's state is not being saved to %s (last written %s): the chain would be "
                "lost at its next restart. anvil said: %s",
                self.node.state_file,
                health.written_at.isoformat() if health.written_at else "never",
                " | ".join(errors) if errors else f"nothing (see {self.node.log_path})",
            )
        elif health.persisted and was_persisted is False:
            logger.warning("anvil's state is being saved again to %s", self.node.state_file)
        return health.persisted


def run_worker(settings: Settings, *, manage_anvil: bool = False) -> int:
    """``kokudaka worker``: settle until SIGINT or SIGTERM; returns the exit status."""
    engine = create_db_engine(settings.sqlalchemy_url)
    runtime = ChainRuntime(settings, create_sessionmaker(engine), manage_anvil=manage_anvil)
    stopping = threading.Event()

    def request_stop(signum: int, _frame: FrameType | None) -> None:
        logger.info("signal %s: stopping the settlement worker", signum)
        stopping.set()

    previous = {sig: signal.signal(sig, request_stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        runtime.start()
        logger.info("settlement worker running against %s", runtime.rpc_url)
        while not stopping.wait(1.0):
            if runtime.error is not None:
                break
    except DeploymentMismatch as exc:
        logger.critical("%s", exc)
        return 2
    finally:
        runtime.stop()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        engine.dispose()
    if runtime.error is not None:
        logger.critical("settlement stopped: %s", runtime.error)
        return 1
    return 0
