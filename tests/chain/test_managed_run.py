"""The managed anvil's lifecycle as a newcomer meets it: the installed ``kokudaka`` command,
run with the default (relative) data directory from a working directory of the test's choosing.

Stopped with Ctrl-C, killed with ``kill -9`` (the service or its anvil), started again: the
chain keeps the KOKU contract and every issuance, and no anvil outlives its service.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest

from kokudaka.chain.client import ChainClient
from kokudaka.chain.processes import free_port, port_in_use
from kokudaka.core.settings import Settings
from kokudaka.demo import DEMO_PASSWORD
from kokudaka.settlement.runtime import managed_anvil
from tests.chain.conftest import nothing_listens_from

#: The console script installed with the package, next to the interpreter running the tests.
KOKUDAKA = Path(sys.executable).parent / "kokudaka"
ADMIN_EMAIL = "root@example.jp"
ADMIN_PASSWORD = "root-password-0123"
TOWN_ADMIN = "admin@nishiaizu.example.jp"
SUPPORTER = "supporter1@example.jp"
#: anvil's default state interval (KOKUDAKA_ANVIL_STATE_INTERVAL unset): what is tested.
STATE_INTERVAL = Settings.model_fields["anvil_state_interval"].default


T = TypeVar("T")


def wait_for(probe: Callable[[], T | None], timeout: float, what: str) -> T:
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        if value is not None and value is not False:
            return value
        assert time.monotonic() < deadline, f"timed out after {timeout}s waiting for {what}"
        time.sleep(0.1)


class Checkout:
    """A working directory with the defaults (``data`` is relative to it), on free ports."""

    def __init__(self, cwd: Path) -> None:
        self.cwd = cwd
        self.port = free_port()
        self.anvil_port = free_port()
        env = {k: v for k, v in os.environ.items() if not k.startswith("KOKUDAKA_")}
        if "KOKUDAKA_ANVIL_BIN" in os.environ:  # where anvil is, not how the service runs
            env["KOKUDAKA_ANVIL_BIN"] = os.environ["KOKUDAKA_ANVIL_BIN"]
        self.env = {
            **env,
            "KOKUDAKA_PORT": str(self.port),
            "KOKUDAKA_ANVIL_PORT": str(self.anvil_port),
            "KOKUDAKA_ADMIN_PASSWORD": ADMIN_PASSWORD,
            # Cheap password hashing: sign-ins are not what is tested here.
            "KOKUDAKA_ARGON2_MEMORY_KIB": "64",
            "KOKUDAKA_ARGON2_TIME_COST": "1",
        }
        self.chain_dir = cwd / "data" / "chain"
        self.state_file = self.chain_dir / "anvil-state.json"
        self.pid_file = self.chain_dir / "anvil.pid"
        self.logs = cwd / "serve.log"
        self.url = f"http://127.0.0.1:{self.port}"
        self.tokens: dict[str, str] = {}
        self.services: list[subprocess.Popen[bytes]] = []

    def run(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(KOKUDAKA), *args],
            cwd=self.cwd,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )

    def serve(self) -> subprocess.Popen[bytes]:
        """``kokudaka serve``, returned once the KOKU deployment is checked."""
        with self.logs.open("ab") as log:
            process = subprocess.Popen(
                [str(KOKUDAKA), "serve"],
                cwd=self.cwd,
                env=self.env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        self.services.append(process)

        def ready() -> bool:
            assert process.poll() is None, f"serve exited: {self.log_tail()}"
            try:
                return httpx.get(f"{self.url}/v1/chain", timeout=5).status_code == 200
            except httpx.TransportError:
                return False

        wait_for(ready, 60, "kokudaka serve to answer /v1/chain")
        return process

    def log(self) -> str:
        return self.logs.read_text(errors="replace")

    def log_tail(self) -> str:
        return self.log()[-4000:]

    def anvil_pid(self) -> int | None:
        """The managed anvil's pid, from its pid file (None between a crash and a restart)."""
        try:
            return int(self.pid_file.read_text())
        except (FileNotFoundError, ValueError):
            return None

    # ------------------------------------------------------------------ the API

    def http(self, method: str, path: str, email: str | None = None, **kw: Any) -> Any:
        headers = kw.pop("headers", {})
        if email is not None:
            headers["Authorization"] = f"Bearer {self.token(email)}"
        response = httpx.request(method, self.url + path, headers=headers, timeout=30, **kw)
        assert response.is_success, f"{method} {path}: {response.status_code} {response.text}"
        return response.json()

    def token(self, email: str) -> str:
        if email not in self.tokens:
            password = ADMIN_PASSWORD if email == ADMIN_EMAIL else DEMO_PASSWORD
            response = httpx.post(
                f"{self.url}/v1/auth/token",
                data={"username": email, "password": password},
                timeout=30,
            )
            assert response.status_code == 200, response.text
            self.tokens[email] = response.json()["access_token"]
        return self.tokens[email]

    def issuances(self) -> list[dict[str, Any]]:
        page = self.http("GET", "/v1/audit/issuances?limit=100", ADMIN_EMAIL)
        items: list[dict[str, Any]] = page["items"]
        return items

    def all_confirmed(self) -> list[dict[str, Any]] | None:
        items = self.issuances()
        done = items and all((i["chain"] or {}).get("state") == "confirmed" for i in items)
        return items if done else None

    def invest_and_confirm(self, yen: int) -> str:
        """A supporter invests in the first demo work; its town confirms the payment."""
        works = self.http("GET", "/v1/works", SUPPORTER)["items"]
        work = next(w for w in works if w["municipality_id"] == self.town_id())
        invested = self.http(
            "POST",
            "/v1/investments",
            SUPPORTER,
            headers={"Idempotency-Key": str(uuid.uuid4())},
            json={"work_id": work["id"], "amount_yen": yen},
        )
        self.http(
            "POST",
            f"/v1/investments/{invested['id']}/confirm",
            TOWN_ADMIN,
            json={"payment_reference": f"furikomi-{uuid.uuid4().hex[:8]}"},
        )
        investment_id: str = invested["id"]
        return investment_id

    def town_id(self) -> str:
        town_id: str = self.http("GET", "/v1/me", TOWN_ADMIN)["municipality_id"]
        return town_id

    def assert_chain_agrees(self, timeout: float = 0) -> None:
        """The supporter's ledger balance is on chain (within ``timeout``), and the audit of
        the whole ledger against the chain finds nothing."""
        chain = self.http("GET", "/v1/chain")
        client = ChainClient(
            f"http://127.0.0.1:{self.anvil_port}", koku_address=chain["token_address"]
        )
        ledger = self.http("GET", "/v1/me/balance", SUPPORTER)["balance"]["go"]
        address = self.http("GET", "/v1/me/wallet", SUPPORTER)["address"]
        assert ledger > 0
        if timeout:
            wait_for(lambda: client.balance_of(address) == ledger, timeout, "the chain to agree")
            # A mint on chain is recorded as confirmed at the worker's next poll, a moment later.
            wait_for(self.all_confirmed, timeout, "the ledger to record it confirmed")
        assert client.balance_of(address) == ledger
        assert self.all_confirmed() is not None
        audit = self.run("audit", "reconcile")
        assert audit.returncode == 0, audit.stdout + audit.stderr


@pytest.fixture
def checkout(tmp_path: Path) -> Iterator[Checkout]:
    """A fresh working directory with an administrator and the demo data loaded."""
    here = Checkout(tmp_path / "checkout")
    here.cwd.mkdir()
    created = here.run("admin", "create", "--email", ADMIN_EMAIL)
    assert created.returncode == 0, created.stderr
    demo = here.run("demo")
    assert demo.returncode == 0, demo.stderr
    # The defaults put everything under ./data of the working directory.
    assert (here.cwd / "data" / "kokudaka.db").is_file()
    yield here
    # Whatever a failed assertion left running: only processes this test started.
    for process in here.services:
        if process.poll() is None:
            process.kill()
            process.wait()
    pid = here.anvil_pid()
    if pid is not None:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


def _ctrl_c(checkout: Checkout, process: subprocess.Popen[bytes]) -> None:
    """Stop ``kokudaka serve`` as Ctrl-C does, and check it shut down in order."""
    shutdowns = checkout.log().count("Application shutdown complete")
    process.send_signal(signal.SIGINT)
    # The shell's status for Ctrl-C (128 + SIGINT), once the service has shut down.
    assert process.wait(timeout=60) == 130
    assert checkout.log().count("Application shutdown complete") == shutdowns + 1


def _gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    # A zombie not yet reaped by its parent has exited too.
    stat = Path(f"/proc/{pid}/stat")
    return stat.exists() and stat.read_text().rsplit(")", 1)[1].split()[0] == "Z"


@pytest.mark.slow
def test_the_default_run_keeps_its_chain_through_ctrl_c_and_an_anvil_crash(
    checkout: Checkout,
) -> None:
    service = checkout.serve()
    try:
        confirmed = wait_for(checkout.all_confirmed, 30, "the demo's issuances on chain")
        assert len(confirmed) == 2
        token = checkout.http("GET", "/v1/chain")["token_address"]
        # anvil dumps its state to the absolute path under ./data: the file appears.
        wait_for(checkout.state_file.is_file, 3 * STATE_INTERVAL, "the first state dump")
        chain = checkout.http("GET", "/v1/chain")
        assert chain["state_persisted"] is True
        assert chain["state_written_at"] is not None
    finally:
        _ctrl_c(checkout, service)
    assert not checkout.pid_file.exists()  # stopped with the service
    assert nothing_listens_from(checkout.cwd, checkout.anvil_port)

    # Started again on the same directory: the same contract, every issuance still there.
    service = checkout.serve()
    try:
        assert checkout.http("GET", "/v1/chain")["token_address"] == token
        assert checkout.all_confirmed() == confirmed
        checkout.assert_chain_agrees()

        # anvil killed right after a mint it has not dumped yet: the supervisor restarts it
        # on its last dump, the mint is gone from the chain, and the worker mints it again.
        invested = 0
        for _attempt in range(3):
            dumped_at = wait_for(
                lambda: _next_dump(checkout.state_file), 2 * STATE_INTERVAL, "a state dump"
            )
            checkout.invest_and_confirm(12_000)
            invested += 1
            wait_for(checkout.all_confirmed, 30, "the new issuance on chain")
            anvil = checkout.anvil_pid()
            assert anvil is not None
            os.kill(anvil, signal.SIGKILL)
            if checkout.state_file.stat().st_mtime_ns == dumped_at:
                break  # the mint was confirmed after the last dump: it is lost
        else:
            pytest.fail("every mint was dumped before the kill")
        wait_for(
            lambda: checkout.anvil_pid() not in (None, anvil), 30, "the supervisor to restart anvil"
        )
        # While the node was down /v1/chain answered 503; it recovers with the node.
        wait_for(
            lambda: httpx.get(f"{checkout.url}/v1/chain", timeout=5).status_code == 200,
            30,
            "/v1/chain to answer again",
        )
        checkout.assert_chain_agrees(timeout=60)  # the worker minted the lost one again
        # One issuance per attempt (an attempt whose mint was dumped before the kill is kept).
        assert len(checkout.issuances()) == len(confirmed) + invested
        assert checkout.http("GET", "/v1/chain")["state_persisted"] is True
    finally:
        _ctrl_c(checkout, service)
    log = checkout.log()
    assert log.count("managed anvil is not running") == 1, log  # one crash, one restart


def _next_dump(state_file: Path) -> int | None:
    """Wait for the state file to be rewritten; returns its new mtime (ns)."""
    before = state_file.stat().st_mtime_ns
    deadline = time.monotonic() + 2 * STATE_INTERVAL
    while time.monotonic() < deadline:
        after = state_file.stat().st_mtime_ns
        if after != before:
            time.sleep(0.2)  # let the write finish
            return after
        time.sleep(0.05)
    return None


@pytest.mark.slow
def test_ctrl_c_while_the_towns_are_set_up_on_chain_stops_promptly_and_loses_nothing(
    checkout: Checkout,
) -> None:
    service = checkout.serve()
    # At its start the service sets the demo's towns up on the development chain: a few
    # transactions each, one block apiece. Ctrl-C in the middle of that.
    wait_for(lambda: "koku minter" in checkout.log(), 30, "a town's set-up on chain")
    started = time.monotonic()
    _ctrl_c(checkout, service)
    # A thread waiting for its transaction's block gets it: before, the miner stopped first
    # and the stop waited out the thread's 30 s.
    assert time.monotonic() - started < 15
    assert nothing_listens_from(checkout.cwd, checkout.anvil_port)

    service = checkout.serve()
    try:
        wait_for(checkout.all_confirmed, 60, "the demo's issuances on chain")
        checkout.assert_chain_agrees()
    finally:
        _ctrl_c(checkout, service)


@pytest.mark.slow
def test_kill_9_of_the_service_takes_its_anvil_along(checkout: Checkout) -> None:
    service = checkout.serve()
    confirmed = wait_for(checkout.all_confirmed, 30, "the demo's issuances on chain")
    token = checkout.http("GET", "/v1/chain")["token_address"]
    anvil = checkout.anvil_pid()
    assert anvil is not None
    service.kill()
    service.wait(timeout=10)
    # The kernel signals anvil (SIGTERM: it writes its state) when the service dies.
    wait_for(lambda: _gone(anvil), 15, "anvil to exit with its service")
    assert nothing_listens_from(checkout.cwd, checkout.anvil_port)

    service = checkout.serve()
    try:
        assert checkout.http("GET", "/v1/chain")["token_address"] == token
        assert checkout.all_confirmed() == confirmed
        checkout.assert_chain_agrees()
    finally:
        _ctrl_c(checkout, service)
    assert "managed anvil is not running" not in checkout.log()


@pytest.mark.slow
def test_a_leftover_anvil_is_stopped_and_its_state_kept(checkout: Checkout) -> None:
    """An anvil a crashed run left behind (as on a system without PR_SET_PDEATHSIG)."""
    service = checkout.serve()
    confirmed = wait_for(checkout.all_confirmed, 30, "the demo's issuances on chain")
    token = checkout.http("GET", "/v1/chain")["token_address"]
    _ctrl_c(checkout, service)

    # The managed anvil's own command line, started as the service does, outliving its parent.
    settings = Settings(data_dir=checkout.cwd / "data", anvil_port=checkout.anvil_port)
    argv = managed_anvil(settings).command()
    with (checkout.chain_dir / "anvil.log").open("ab") as log:
        leftover = subprocess.Popen(
            argv,
            cwd=checkout.chain_dir,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        checkout.pid_file.write_text(f"{leftover.pid}\n")
        wait_for(lambda: port_in_use("127.0.0.1", checkout.anvil_port), 15, "the leftover anvil")
        service = checkout.serve()
        try:
            assert leftover.poll() is not None, "the leftover anvil is still running"
            assert leftover.returncode == 0  # SIGTERM: it wrote its state on the way out
            assert checkout.anvil_pid() != leftover.pid
            assert checkout.http("GET", "/v1/chain")["token_address"] == token
            assert checkout.all_confirmed() == confirmed
            checkout.assert_chain_agrees()
        finally:
            _ctrl_c(checkout, service)
    finally:
        if leftover.poll() is None:
            leftover.kill()
            leftover.wait()
    assert "managed anvil is not running" not in checkout.log()


def test_ports_in_use_are_refused_clearly_and_leave_nothing_running(tmp_path: Path) -> None:
    here = Checkout(tmp_path)
    with socket.socket() as held:
        held.bind(("127.0.0.1", here.port))
        held.listen()
        refused = here.run("serve")
        assert refused.returncode == 2
        assert f"port {here.port} on 127.0.0.1 is already in use" in refused.stderr
        assert "KOKUDAKA_PORT" in refused.stderr
    assert nothing_listens_from(here.cwd, here.anvil_port)
    assert not here.pid_file.exists()

    with socket.socket() as held:
        held.bind(("127.0.0.1", here.anvil_port))
        held.listen()
        refused = here.run("serve")
        assert refused.returncode == 2
        assert f"port {here.anvil_port} on 127.0.0.1 is held by another process" in refused.stderr
        assert "KOKUDAKA_ANVIL_PORT" in refused.stderr
    assert nothing_listens_from(here.cwd, here.port)
    assert not here.pid_file.exists()


def test_a_chain_that_lost_the_contract_is_refused_in_one_line(checkout: Checkout) -> None:
    service = checkout.serve()
    wait_for(checkout.all_confirmed, 30, "the demo's issuances on chain")
    _ctrl_c(checkout, service)
    checkout.state_file.unlink()  # the chain starts empty: the ledger's contract is gone

    refused = checkout.run("serve")
    assert refused.returncode == 2, refused.stderr
    assert "kokudaka serve: the chain at" in refused.stderr
    assert "lost the KOKU contract" in refused.stderr
    assert "Traceback" not in refused.stderr
    assert nothing_listens_from(
        checkout.cwd, checkout.anvil_port
    )  # the anvil it started is stopped again
    assert not checkout.pid_file.exists()
