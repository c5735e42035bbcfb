"""Child processes the ledger starts and stops itself: embedded servers and its own services."""

from __future__ import annotations

import ctypes
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from infra.logging import get_logger

log = get_logger("infra.processes")


PR_SET_PDEATHSIG = 1  # prctl(2)


def exit_with_parent(signum: int) -> None:
    """Have Linux send this process ``signum`` when its parent dies, even by SIGKILL."""
    if sys.platform == "linux":
        ctypes.CDLL(None).prctl(PR_SET_PDEATHSIG, signum)


class StartupFailed(RuntimeError):
    """A part of the stack did not come up; the message says which and where its log is."""


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


def port_open(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


def wait_until(ready: Callable[[], bool], *, timeout: float, interval: float = 0.1) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if ready():
            return True
        time.sleep(interval)
    return ready()


class ManagedProcess:
    """One supervised child: started with its output in a log file, stopped by signal."""

    def __init__(
        self,
        name: str,
        argv: Sequence[str],
        *,
        log_path: Path,
        env: dict[str, str] | None = None,
        user: str | None = None,
        stop_signal: int = signal.SIGTERM,
        cwd: Path | None = None,
    ) -> None:
        self.name = name
        self.argv = list(argv)
        self.log_path = log_path
        self.env = env
        self.user = user
        self.stop_signal = stop_signal
        self.cwd = cwd
        self.process: subprocess.Popen | None = None

    def start(self) -> ManagedProcess:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.log_path, "ab") as output:
            self.process = subprocess.Popen(
                self.argv,
                stdout=output,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=self.env,
                user=self.user,
                cwd=self.cwd,
                # Own process group: Ctrl-C in the terminal reaches the supervisor only,
                # which then stops the children in order.
                start_new_session=True,
            )
        log.debug("process started", name=self.name, pid=self.process.pid, log=str(self.log_path))
        return self

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process else None

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def exit_code(self) -> int | None:
        return None if self.process is None else self.process.poll()

    def log_tail(self, lines: int = 20) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def fail(self, reason: str) -> StartupFailed:
        return StartupFailed(
            f"{self.name} failed to start: {reason} (log: {self.log_path})\n{self.log_tail()}"
        )

    def wait_ready(self, ready: Callable[[], bool], *, timeout: float) -> None:
        def ready_or_dead() -> bool:
            if not self.alive():
                raise self.fail(f"exited with code {self.exit_code()}")
            return ready()

        if not wait_until(ready_or_dead, timeout=timeout, interval=0.1):
            self.stop()
            raise self.fail(f"not ready after {timeout:.0f}s")

    def signal(self, signum: int) -> None:
        if self.alive():
            os.kill(self.process.pid, signum)

    def stop(self, timeout: float = 15.0) -> int | None:
        if not self.alive():
            return self.exit_code()
        self.signal(self.stop_signal)
        try:
            return self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            log.warning("process did not stop in time; killing", name=self.name)
            self.process.kill()
            return self.process.wait(5)

    def kill(self) -> None:
        if self.alive():
            self.process.kill()
            self.process.wait(5)
