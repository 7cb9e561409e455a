"""anvil as an operating-system process: ports, a launch that dies with its parent, and
reading another process's command line (to recognise a leftover anvil).

Kept apart from :mod:`kokudaka.chain.node`, which is about the node itself (its command,
readiness, state file and log).
"""

from __future__ import annotations

import ctypes
import os
import queue
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import Callable
from concurrent.futures import Future
from pathlib import Path
from typing import Any

__all__ = ["command_line", "free_port", "launcher", "port_in_use", "resident_memory"]


def port_in_use(host: str, port: int) -> bool:
    """Whether something listens on ``host:port`` (a bind probe, as a server would try it).

    ``SO_REUSEADDR`` as servers set it, so a port left in TIME_WAIT by a stopped server is free.
    """
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return True
        return False


def free_port(host: str = "127.0.0.1") -> int:
    """Ask the OS for a free TCP port; anvil is then started on it.

    There is a short window in which another process could take the port; startup would then
    fail with a clear error rather than talk to the wrong server, because anvil exits.
    """
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


PR_SET_PDEATHSIG = 1  # <linux/prctl.h>


def _parent_death_signal(signum: int) -> Callable[[], None] | None:
    """A ``preexec_fn`` asking the kernel to send ``signum`` to the child when we die (Linux).

    libc and ``prctl`` are looked up here, before the fork, so the child only makes the call.
    """
    if sys.platform != "linux":
        return None
    prctl = ctypes.CDLL(None, use_errno=True).prctl
    prctl.argtypes = [ctypes.c_int, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong]
    prctl.restype = ctypes.c_int
    parent = os.getpid()

    def set_in_child() -> None:
        if prctl(PR_SET_PDEATHSIG, signum, 0, 0, 0) != 0:
            raise OSError(ctypes.get_errno(), "prctl(PR_SET_PDEATHSIG) failed")
        if os.getppid() != parent:  # the parent died before the call: nobody would stop us
            os._exit(1)

    return set_in_child


class _Launcher:
    """Forks every node from one thread that lives as long as the process.

    The kernel sends the parent-death signal when the *thread* that forked the child ends, not
    the process. Nodes are started from short-lived threads (the app's lifespan runs in a worker
    thread that the thread pool retires when idle; the supervisor restarts anvil from its own),
    so forking there would stop anvil when that thread ends.
    """

    def __init__(self) -> None:
        self._requests: queue.SimpleQueue[
            tuple[Future[subprocess.Popen[bytes]], list[str], dict[str, Any]]
        ] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def popen(self, cmd: list[str], **options: Any) -> subprocess.Popen[bytes]:
        preexec = _parent_death_signal(signal.SIGTERM)
        if preexec is None:
            return subprocess.Popen(cmd, **options)  # noqa: S603 - fixed argv, no shell
        future: Future[subprocess.Popen[bytes]] = Future()
        with self._lock:
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(
                    target=self._run, name="kokudaka-anvil-launcher", daemon=True
                )
                self._thread.start()
        self._requests.put((future, cmd, {**options, "preexec_fn": preexec}))
        return future.result()

    def _run(self) -> None:
        while True:
            future, cmd, options = self._requests.get()
            try:
                future.set_result(subprocess.Popen(cmd, **options))  # noqa: S603
            except BaseException as exc:  # handed to the caller, who re-raises it
                future.set_exception(exc)


launcher = _Launcher()
"""The one launcher of the process: every node is forked from its thread."""


def command_line(pid: int) -> list[str] | None:
    """The argv of a live process, or None if it is gone (or a zombie) or cannot be read."""
    if sys.platform == "linux":
        try:
            raw = Path(f"/proc/{pid}/cmdline").read_bytes()
        except OSError:
            return None
        return [part.decode(errors="replace") for part in raw.split(b"\0") if part] or None
    if sys.platform == "win32":
        return None
    try:
        out = subprocess.run(  # noqa: S603 - fixed argv
            ["ps", "-o", "args=", "-p", str(pid)],  # noqa: S607 - POSIX ps from PATH
            capture_output=True,
            text=True,
            timeout=5,
            check=False,
        ).stdout.split()
    except (OSError, subprocess.SubprocessError):
        return None
    return out or None


def resident_memory(pid: int) -> int | None:
    """Resident memory (RSS) of a live process in bytes, or None if it cannot be read."""
    if sys.platform == "linux":
        try:
            status = Path(f"/proc/{pid}/status").read_text()
        except OSError:
            return None
        for line in status.splitlines():
            if line.startswith("VmRSS:"):  # "VmRSS:   123456 kB"; absent for a zombie
                return int(line.split()[1]) * 1024
        return None
    if sys.platform == "win32":
        return None
    try:
        out = subprocess.run(  # noqa: S603 - fixed argv
            ["ps", "-o", "rss=", "-p", str(pid)],  # noqa: S607 - POSIX ps from PATH, in KiB
            capture_output=True,
            text=True,
            timeout=5,
            check=False,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return int(out) * 1024 if out.isdigit() else None
