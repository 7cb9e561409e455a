"""A local anvil dev chain run as a subprocess.

The service's laptop default and the test suite both talk to a real EVM node rather than a mock,
so this module starts anvil (shipped by the npm package ``@foundry-rs/anvil``, installed with
``npm ci``), waits until it answers JSON-RPC, and stops it so that its state file is written.
"""

from __future__ import annotations

import json
import os
import platform
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path
from types import TracebackType
from typing import IO, Self

from kokudaka.chain.errors import AnvilNotInstalled, ChainError, ChainUnavailable

__all__ = ["DEFAULT_GAS_LIMIT", "AnvilNode", "find_anvil_binary", "free_port"]

#: Block gas limit: several maximal mint batches (each below the 16,777,216 per-transaction cap
#: of EIP-7825) fit in one block when anvil mines on an interval.
DEFAULT_GAS_LIMIT = 60_000_000


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


def free_port(host: str = "127.0.0.1") -> int:
    """Ask the OS for a free TCP port; anvil is then started on it.

    There is a short window in which another process could take the port; startup would then
    fail with a clear error rather than talk to the wrong server, because anvil exits.
    """
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


class AnvilNode:
    """One anvil process, its data directory, state file and log.

    With ``state_file`` set, the chain survives restarts: anvil loads the file at start, writes it
    every ``state_interval`` seconds, and once more on a clean :meth:`stop`. :meth:`kill` skips
    that last write, which is what the fault tests want to simulate.
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
        startup_timeout: float = 15.0,
        binary: Path | None = None,
    ) -> None:
        """Configure, but do not start, a node.

        ``port=0`` picks a free port at :meth:`start`. ``block_time=None`` means automine: every
        transaction is mined at once, which keeps tests fast and deterministic. ``hardfork=None``
        keeps anvil's default (the newest, which enforces the EIP-7825 transaction gas cap).
        """
        self.data_dir = Path(data_dir)
        self.host = host
        self.port = port
        self.chain_id = chain_id
        self.state_file = state_file
        self.state_interval = state_interval
        self.block_time = block_time
        self.gas_limit = gas_limit
        self.accounts = accounts
        self.balance_ether = balance_ether
        self.hardfork = hardfork
        self.startup_timeout = startup_timeout
        self._binary = binary
        self._process: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None

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
            "--silent",
        ]
        if self.state_file is not None:
            cmd += ["--state", str(self.state_file)]
            if self.state_interval is not None:
                cmd += ["--state-interval", str(self.state_interval)]
        if self.block_time is not None:
            cmd += ["--block-time", str(self.block_time)]
        if self.hardfork is not None:
            cmd += ["--hardfork", self.hardfork]
        return cmd

    def start(self) -> Self:
        """Start anvil and return once it answers ``eth_chainId``.

        Raises :class:`AnvilNotInstalled` without the binary and :class:`ChainUnavailable` if the
        process exits or stays silent past ``startup_timeout`` (the log is quoted in the error).
        """
        if self.running:
            return self
        self.data_dir.mkdir(parents=True, exist_ok=True)
        if self.port == 0:
            # Picked once: a restarted node keeps its URL, so clients built before still work.
            self.port = free_port(self.host)
        cmd = self.command()
        self._log = self.log_path.open("ab")
        self._log.write(f"\n--- {time.strftime('%Y-%m-%dT%H:%M:%S')} {' '.join(cmd)}\n".encode())
        self._log.flush()
        self._process = subprocess.Popen(  # noqa: S603 - fixed argv, no shell
            cmd,
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            cwd=self.data_dir,
        )
        try:
            self._wait_ready()
        except BaseException:
            self.kill()
            raise
        return self

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
        self._process = None
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
