"""A local anvil dev chain run as a subprocess.

The service's laptop default and the test suite both talk to a real EVM node rather than a mock,
so this module starts anvil (shipped by the npm package ``@foundry-rs/anvil``, installed with
``npm ci``), waits until it answers JSON-RPC, and stops it so that its state file is written.

A node never outlives the process that started it: on Linux the kernel sends anvil SIGTERM
when that process dies, even by ``kill -9`` (``PR_SET_PDEATHSIG``), and anvil writes its state
on the way out. Elsewhere, and for an anvil left by a version without that, the pid file in the
node's directory lets the next start stop the leftover before it takes the port.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import logging
import os
import platform
import shutil
import signal
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import IO, Self

from kokudaka.chain.errors import AnvilNotInstalled, AnvilPortInUse, ChainError, ChainUnavailable
from kokudaka.chain.processes import (
    command_line,
    free_port,
    launcher,
    port_in_use,
    resident_memory,
)

__all__ = [
    "DEFAULT_GAS_LIMIT",
    "AnvilNode",
    "NodeUsage",
    "StateHealth",
    "find_anvil_binary",
]

logger = logging.getLogger(__name__)

#: Block gas limit: several maximal mint batches (each below the 16,777,216 per-transaction cap
#: of EIP-7825) fit in one block when anvil mines on an interval.
DEFAULT_GAS_LIMIT = 60_000_000

#: State dumps that may be missed before the state counts as no longer written.
STALE_AFTER_INTERVALS = 3

#: anvil's log filter. ``--silent`` alone drops anvil's errors, a failing state dump among
#: them; with ``RUST_LOG`` set they reach the log. (anvil 1.x honours only a bare level here: a
#: directive naming a target silences everything. It logs a line per RPC call whatever the
#: level, hence :meth:`AnvilNode.rotate_log`.)
ANVIL_LOG_FILTER = "error"
#: anvil.log is copied to anvil.log.1 and emptied past this size.
LOG_MAX_BYTES = 10 * 1024 * 1024


def _repo_root() -> Path:
    # src/kokudaka/chain/node.py -> repository root
    return Path(__file__).resolve().parents[3]


def find_anvil_binary(search_root: Path | None = None) -> Path:
    """Locate anvil under ``node_modules``, as laid out by ``npm ci`` from ``package.json``.

    ``@foundry-rs/anvil`` ships the native binary in a per-platform optional package
    (``@foundry-rs/anvil-<os>-<arch>``); ``node_modules/.bin/anvil`` is its launcher, kept as a
    fallback. ``KOKUDAKA_ANVIL_BIN`` overrides both, for machines with a system-wide foundry.
    """
    override = os.environ.get("KOKUDAKA_ANVIL_BIN")
    if override:
        path = Path(override)
        if path.is_file() and os.access(path, os.X_OK):
            return path
        raise AnvilNotInstalled(f"KOKUDAKA_ANVIL_BIN={override} is not an executable file")
    root = search_root or _repo_root()
    system = {"Linux": "linux", "Darwin": "darwin", "Windows": "win32"}.get(
        platform.system(), platform.system().lower()
    )
    machine = platform.machine().lower()
    arch = {"x86_64": "amd64", "amd64": "amd64", "aarch64": "arm64", "arm64": "arm64"}.get(
        machine, machine
    )
    exe = "anvil.exe" if system == "win32" else "anvil"
    candidates = [
        root / "node_modules" / "@foundry-rs" / f"anvil-{system}-{arch}" / "bin" / exe,
        root / "node_modules" / ".bin" / exe,
    ]
    for candidate in candidates:
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return candidate
    raise AnvilNotInstalled(
        f"anvil not found (looked at {', '.join(str(c) for c in candidates)}): "
        f"run `npm ci` in {root}"
    )


@dataclass(frozen=True, slots=True)
class StateHealth:
    """Whether a node's state file is being written, as the service reports it."""

    written_at: datetime | None
    """When the state file was last written (its mtime), if it exists."""
    persisted: bool | None
    """True while dumps arrive on time (or the node has just started and nothing says they
    fail); False once :data:`STALE_AFTER_INTERVALS` dumps are missed, or the node is down;
    None when the node has no periodic dumps to check."""


@dataclass(frozen=True, slots=True)
class NodeUsage:
    """What a running node holds, as the service reports it."""

    memory_bytes: int | None
    """Resident memory (RSS) of the anvil process; None when it is not running."""
    state_file_bytes: int | None
    """Size of the state file; None before its first dump, or without a state file."""


class AnvilNode:
    """One anvil process, its data directory, state file, pid file and log.

    With ``state_file`` set, the chain survives restarts: anvil loads the file at start, writes it
    every ``state_interval`` seconds, and once more on a clean :meth:`stop`. :meth:`kill` skips
    that last write, which is what the fault tests want to simulate. Paths are made absolute
    here: anvil runs in ``data_dir``, and a relative path would be read from there.
    """

    def __init__(
        self,
        data_dir: Path,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        chain_id: int = 31337,
        state_file: Path | None = None,
        state_interval: int | None = None,
        block_time: float | None = None,
        gas_limit: int = DEFAULT_GAS_LIMIT,
        accounts: int = 10,
        balance_ether: int = 10_000,
        hardfork: str | None = None,
        state_history: int | None = None,
        mine_on_demand: bool = False,
        startup_timeout: float = 15.0,
        binary: Path | None = None,
    ) -> None:
        """Configure, but do not start, a node.

        ``port=0`` picks a free port at :meth:`start`. ``block_time=None`` means automine: every
        transaction is mined at once, which keeps tests fast and deterministic. ``hardfork=None``
        keeps anvil's default (the newest, which enforces the EIP-7825 transaction gas cap).

        ``state_history`` is how many blocks' states anvil keeps (``--prune-history N``): calls
        pinned to an older block fail. ``None`` keeps anvil's default, which keeps up to 1,500
        full copies of the state in memory and spills 3,600 more to a temporary directory: fine
        for a test chain, but a copy of a chain with many mints is tens of megabytes, and interval
        mining makes one a second, minted or not. anvil 1.7.1 ignores the number under interval
        mining of 2 s or less (it keeps 1,500), so it goes with ``mine_on_demand``.

        ``mine_on_demand`` starts anvil with ``--no-mining``: blocks are made by ``evm_mine``
        from outside (the service's runtime mines once a second while transactions wait), so an
        idle chain makes no blocks at all.
        """
        self.data_dir = Path(data_dir).absolute()
        self.host = host
        self.port = port
        self.chain_id = chain_id
        self.state_file = None if state_file is None else Path(state_file).absolute()
        self.state_interval = state_interval
        self.block_time = block_time
        self.gas_limit = gas_limit
        self.accounts = accounts
        self.balance_ether = balance_ether
        self.hardfork = hardfork
        self.state_history = state_history
        self.mine_on_demand = mine_on_demand
        self.startup_timeout = startup_timeout
        self._binary = binary
        self._process: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None
        self._started_at: float | None = None

    @property
    def rpc_url(self) -> str:
        """HTTP JSON-RPC endpoint of the running node."""
        if self.port == 0:
            raise ChainError("the node has not been started, so it has no port yet")
        return f"http://{self.host}:{self.port}"

    @property
    def log_path(self) -> Path:
        """Anvil's stdout and stderr go here, not to the caller's terminal."""
        return self.data_dir / "anvil.log"

    @property
    def pid_file(self) -> Path:
        """The running anvil's pid, so that a start after a crash can stop a leftover one."""
        return self.data_dir / "anvil.pid"

    @property
    def running(self) -> bool:
        """Whether the process is alive (not whether it answers)."""
        return self._process is not None and self._process.poll() is None

    @property
    def pid(self) -> int | None:
        """Process id, for diagnostics."""
        return self._process.pid if self._process is not None else None

    def command(self) -> list[str]:
        """The anvil command line this node runs."""
        binary = self._binary or find_anvil_binary()
        cmd = [
            str(binary),
            "--host",
            self.host,
            "--port",
            str(self.port),
            "--chain-id",
            str(self.chain_id),
            "--gas-limit",
            str(self.gas_limit),
            "--accounts",
            str(self.accounts),
            "--balance",
            str(self.balance_ether),
            "--silent",  # errors still reach the log: see ANVIL_LOG_FILTER
        ]
        if self.state_file is not None:
            cmd += ["--state", str(self.state_file)]
            if self.state_interval is not None:
                cmd += ["--state-interval", str(self.state_interval)]
        if self.mine_on_demand:
            cmd += ["--no-mining"]
        elif self.block_time is not None:
            cmd += ["--block-time", str(self.block_time)]
        if self.hardfork is not None:
            cmd += ["--hardfork", self.hardfork]
        if self.state_history is not None:
            # Blocks, transactions and receipts are all kept (eth_getLogs over the whole
            # history is how reconciliation and the audit log read the chain): only the
            # per-block copies of the state are pruned. In memory only: nothing is spilled.
            cmd += [f"--prune-history={self.state_history}"]
        return cmd

    def start(self) -> Self:
        """Start anvil and return once it answers ``eth_chainId``.

        Raises :class:`AnvilNotInstalled` without the binary and :class:`ChainUnavailable` if the
        process exits or stays silent past ``startup_timeout`` (the log is quoted in the error).
        """
        if self.running:
            return self
        self._cleanup()  # after a crash: close the old log, drop the dead process's pid file
        self._check_state_writable()
        self.claim_port()
        cmd = self.command()
        self._log = self.log_path.open("ab")
        self._log.write(f"\n--- {time.strftime('%Y-%m-%dT%H:%M:%S')} {' '.join(cmd)}\n".encode())
        self._log.flush()
        self._process = launcher.popen(
            cmd,
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            cwd=self.data_dir,
            env={**os.environ, "RUST_LOG": ANVIL_LOG_FILTER, "NO_COLOR": "1"},
            # Out of the terminal's process group: Ctrl-C goes to the service, which stops the
            # worker first and then anvil, rather than to both at once.
            start_new_session=True,
        )
        self._started_at = time.time()
        self._write_pid_file(self._process.pid)
        try:
            self._wait_ready()
        except BaseException:
            self.kill()
            raise
        return self

    def claim_port(self) -> None:
        """Make the port ours: stop an anvil an earlier run left on it, refuse anything else.

        Raises :class:`AnvilPortInUse` when another process listens there: anvil would fail to
        bind, and the other process would answer in its place.
        """
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self._stop_leftover()
        if self.port == 0:
            # Picked once: a restarted node keeps its URL, so clients built before still work.
            self.port = free_port(self.host)
        elif port_in_use(self.host, self.port):
            raise AnvilPortInUse(
                f"port {self.port} on {self.host} is held by another process, not by an anvil "
                f"started from {self.data_dir} (no live anvil recorded in {self.pid_file}): stop "
                "that process or choose another port (KOKUDAKA_ANVIL_PORT for the managed anvil)"
            )

    def _check_state_writable(self) -> None:
        if self.state_file is None:
            return
        directory = self.state_file.parent
        directory.mkdir(parents=True, exist_ok=True)
        target = self.state_file if self.state_file.exists() else directory
        if not os.access(target, os.W_OK):
            raise ChainUnavailable(f"anvil could not write its state to {self.state_file}")

    def _write_pid_file(self, pid: int) -> None:
        temporary = self.pid_file.with_suffix(".pid.tmp")
        temporary.write_text(f"{pid}\n")
        temporary.replace(self.pid_file)

    def _is_our_anvil(self, argv: Sequence[str] | None) -> bool:
        """Whether a command line is an anvil of this node: its binary, on its state file."""
        if not argv or Path(argv[0]).name not in ("anvil", "anvil.exe"):
            return False
        if self.state_file is None:
            return True
        return any(
            flag == "--state" and value == str(self.state_file)
            for flag, value in itertools.pairwise(argv)
        )

    def _stop_leftover(self, timeout: float = 15.0) -> None:
        """Stop the anvil a crashed run left on this directory (SIGTERM: it writes its state)."""
        try:
            pid = int(self.pid_file.read_text().strip())
        except (OSError, ValueError):
            return
        if not self._is_our_anvil(command_line(pid)):
            self.pid_file.unlink(missing_ok=True)  # stale: the process is gone or another one
            return
        logger.warning("stopping anvil pid %s, left running by an earlier start", pid)
        sig = signal.SIGTERM
        while self._is_our_anvil(command_line(pid)):
            with contextlib.suppress(ProcessLookupError):  # it may exit at any moment
                os.kill(pid, sig)
            deadline = time.monotonic() + timeout
            while self._is_our_anvil(command_line(pid)) and time.monotonic() < deadline:
                time.sleep(0.05)
            sig = signal.SIGKILL  # it did not stop in time
        self.pid_file.unlink(missing_ok=True)

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + self.startup_timeout
        body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "eth_chainId", "params": []})
        while True:
            assert self._process is not None
            if self._process.poll() is not None:
                raise ChainUnavailable(
                    f"anvil exited with code {self._process.returncode} during startup: "
                    f"{self._log_tail()}"
                )
            request = urllib.request.Request(  # noqa: S310 - our own http:// URL
                self.rpc_url,
                data=body.encode(),
                headers={"Content-Type": "application/json"},
            )
            try:
                with urllib.request.urlopen(request, timeout=1.0) as response:  # noqa: S310
                    answer = json.loads(response.read())
                if self._process.poll() is not None:
                    continue  # it answered, yet ours exited: said at the top of the loop
                if int(answer["result"], 16) == self.chain_id:
                    return
                raise ChainUnavailable(
                    f"{self.rpc_url} answered chain id {answer['result']}, not {self.chain_id}: "
                    "another node holds the port"
                )
            except (urllib.error.URLError, ConnectionError, TimeoutError, KeyError, ValueError):
                pass
            if time.monotonic() > deadline:
                raise ChainUnavailable(
                    f"anvil did not answer on {self.rpc_url} within {self.startup_timeout}s: "
                    f"{self._log_tail()}"
                )
            time.sleep(0.05)

    def _log_tail(self, limit: int = 2000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-limit:].strip()
        except OSError:
            return "(no log)"

    def rotate_log(self, max_bytes: int = LOG_MAX_BYTES) -> None:
        """Keep the log bounded while anvil runs: copy it to ``anvil.log.1``, then empty it.

        anvil keeps writing through its descriptor, opened for appending, so its next line lands
        at the start of the emptied file; lines written between the copy and the truncation are
        lost, which is the price of rotating a log another process holds open.
        """
        try:
            if self.log_path.stat().st_size <= max_bytes:
                return
            shutil.copyfile(self.log_path, self.log_path.with_suffix(".log.1"))
            os.truncate(self.log_path, 0)
        except OSError as exc:
            logger.warning("could not rotate %s: %s", self.log_path, exc)

    def log_errors(self, limit: int = 5) -> list[str]:
        """The last ERROR and WARN lines anvil wrote since it was last started, to quote."""
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return []
        since_start = text.rsplit("\n--- ", 1)[-1]
        lines = [line.strip() for line in since_start.splitlines()]
        return [line for line in lines if " ERROR " in line or " WARN " in line][-limit:]

    def state_health(self, now: float | None = None) -> StateHealth:
        """Whether the state file is being written: its mtime must advance every interval.

        Until :data:`STALE_AFTER_INTERVALS` intervals have passed since the start the state
        counts as persisted (the start checked it can be written); after that, only a dump as
        recent as that does.
        """
        try:
            mtime: float | None = (
                None if self.state_file is None else self.state_file.stat().st_mtime
            )
        except FileNotFoundError:
            mtime = None
        written_at = None if mtime is None else datetime.fromtimestamp(mtime, UTC)
        if self.state_file is None or self.state_interval is None:
            return StateHealth(written_at, None)
        if not self.running or self._started_at is None:
            return StateHealth(written_at, False)
        last_known_good = max(mtime or 0.0, self._started_at)
        late = (time.time() if now is None else now) - last_known_good
        return StateHealth(written_at, late <= STALE_AFTER_INTERVALS * self.state_interval)

    def usage(self) -> NodeUsage:
        """The process's resident memory and the state file's size, for ``GET /v1/chain``."""
        pid = self.pid if self.running else None
        memory = None if pid is None else resident_memory(pid)
        state_size: int | None = None
        if self.state_file is not None:
            with contextlib.suppress(OSError):
                state_size = self.state_file.stat().st_size
        return NodeUsage(memory, state_size)

    def stop(self, timeout: float = 15.0) -> None:
        """Stop cleanly: SIGTERM lets anvil write its state file; SIGKILL only if it hangs."""
        process = self._process
        if process is not None and process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        self._cleanup()

    def kill(self) -> None:
        """Stop abruptly, without the final state dump: a crash, for fault tests."""
        process = self._process
        if process is not None and process.poll() is None:
            process.kill()
            process.wait()
        self._cleanup()

    def _cleanup(self) -> None:
        process, self._process = self._process, None
        if process is not None:
            try:
                recorded = int(self.pid_file.read_text().strip())
            except (OSError, ValueError):
                recorded = None
            if recorded == process.pid:
                self.pid_file.unlink(missing_ok=True)
        self._started_at = None
        if self._log is not None:
            self._log.close()
            self._log = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
