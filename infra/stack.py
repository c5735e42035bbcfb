"""The whole ledger on one machine, supervised: PostgreSQL and the broker (embedded unless
``LEDGER_DATABASE_URL`` / ``LEDGER_KAFKA_BOOTSTRAP`` name real servers), then the relay, the
stream processor and the API as child processes. ``ledger up`` and the end-to-end tests both
run this, so the tests exercise exactly what operators run.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import psycopg

from infra.embedded import EmbeddedBroker, EmbeddedPostgres
from infra.logging import get_logger
from infra.processes import ManagedProcess, StartupFailed, free_port, port_open
from infra.settings import EMBEDDED_SESSION_TIMEOUT, Settings

log = get_logger("infra.stack")
SERVICES = ("relay", "worker", "api")
ENDPOINTS_FILE = "endpoints.json"
MAX_RESTARTS = 5  # per service within RESTART_WINDOW seconds, before the stack gives up
RESTART_WINDOW = 60.0


@dataclass
class Endpoints:
    database_url: str
    bootstrap: str
    api_url: str


@dataclass
class _Restarts:
    times: list[float] = field(default_factory=list)

    def allow(self) -> bool:
        now = time.monotonic()
        self.times = [t for t in self.times if now - t < RESTART_WINDOW] + [now]
        return len(self.times) <= MAX_RESTARTS


class Stack:
    def __init__(
        self,
        settings: Settings,
        *,
        data_dir: Path | None = None,
        env: dict[str, str] | None = None,
        ready_timeout: float = 60.0,
    ) -> None:
        self.settings = settings
        self.data_dir = (data_dir or settings.data_dir).resolve()
        self.extra_env = env or {}
        self.ready_timeout = ready_timeout
        self.postgres: EmbeddedPostgres | None = None
        self.broker: EmbeddedBroker | None = None
        self.services: dict[str, ManagedProcess] = {}
        self.endpoints: Endpoints | None = None
        self._restarts = {name: _Restarts() for name in SERVICES}

    # --- start / stop -------------------------------------------------------------------------

    def start(self) -> Endpoints:
        try:
            database_url = self._database()
            bootstrap = self._broker()
            port = self.settings.api_port or free_port()
            self.endpoints = Endpoints(
                database_url, bootstrap, f"http://{self.settings.api_host}:{port}"
            )
            for name in SERVICES:
                self.start_service(name)
            self._write_endpoints()
        except BaseException:
            self.stop()
            raise
        return self.endpoints

    def stop(self) -> None:
        self.endpoints_file.unlink(missing_ok=True)
        for name in reversed(SERVICES):
            if name in self.services:
                self.services[name].stop()
        if self.broker:
            self.broker.stop()
        if self.postgres:
            self.postgres.stop()

    def start_service(self, name: str) -> ManagedProcess:
        process = ManagedProcess(
            name,
            [sys.executable, "-m", "api.cli", name],
            log_path=self.data_dir / "logs" / f"{name}.log",
            env=self._service_env(),
        ).start()
        self.services[name] = process
        process.wait_ready(lambda: self._ready(name, process), timeout=self.ready_timeout)
        log.info("service ready", service=name, pid=process.pid)
        return process

    def restart_service(self, name: str) -> ManagedProcess:
        self.services[name].stop()
        return self.start_service(name)

    def kill_service(self, name: str, signum: int = signal.SIGKILL) -> None:
        process = self.services[name]
        process.signal(signum)
        process.process.wait(10)

    # --- supervision --------------------------------------------------------------------------

    def supervise(self, stop: threading.Event, interval: float = 0.5) -> int:
        """Keep the services running until ``stop`` is set; a failing base part ends the stack."""
        while not stop.wait(interval):
            for base in (self.postgres, self.broker):
                if base and base.process and not base.process.alive():
                    log.error(
                        "embedded server exited",
                        server=base.process.name,
                        log=str(base.process.log_path),
                    )
                    return 1
            for name, process in list(self.services.items()):
                if process.alive():
                    continue
                log.warning("service exited; restarting", service=name, code=process.exit_code())
                if not self._restarts[name].allow():
                    log.error(
                        "service keeps failing; stopping", service=name, log=str(process.log_path)
                    )
                    return 1
                try:
                    self.start_service(name)
                except StartupFailed as error:
                    log.error("restart failed", service=name, error=str(error))
        return 0

    @property
    def endpoints_file(self) -> Path:
        return self.data_dir / ENDPOINTS_FILE

    def _write_endpoints(self) -> None:
        """Where the running stack listens, for `ledger` commands run from another shell."""
        self.endpoints_file.write_text(json.dumps(vars(self.endpoints), indent=2))

    # --- parts --------------------------------------------------------------------------------

    def _database(self) -> str:
        if self.settings.database_url:
            _check_database(self.settings.database_url)
            return self.settings.database_url
        self.postgres = EmbeddedPostgres(self.data_dir)
        return self.postgres.start()

    def _broker(self) -> str:
        if self.settings.kafka_bootstrap:
            _check_broker(self.settings.kafka_bootstrap)
            return self.settings.kafka_bootstrap
        self.broker = EmbeddedBroker(self.data_dir)
        return self.broker.start()

    def _service_env(self) -> dict[str, str]:
        assert self.endpoints is not None
        port = self.endpoints.api_url.rsplit(":", 1)[1]
        return {
            **os.environ,
            **self.extra_env,
            "LEDGER_DATABASE_URL": self.endpoints.database_url,
            "LEDGER_KAFKA_BOOTSTRAP": self.endpoints.bootstrap,
            "LEDGER_API_PORT": port,
            "LEDGER_DATA_DIR": str(self.data_dir),
            **self._embedded_broker_tuning(),
        }

    def _embedded_broker_tuning(self) -> dict[str, str]:
        """A short consumer session on the embedded broker, where a worker's start waits for
        half of it (Tansu holds a group's join that long); never over the user's own value."""
        if self.broker is None or "consumer_session_timeout" in self.settings.model_fields_set:
            return {}
        return {"LEDGER_CONSUMER_SESSION_TIMEOUT": str(EMBEDDED_SESSION_TIMEOUT)}

    def _ready(self, name: str, process: ManagedProcess) -> bool:
        if name == "api":
            return _http_ok(f"{self.endpoints.api_url}/healthz")
        if name == "relay":
            return _query_ok(
                self.endpoints.database_url,
                "SELECT 1 FROM relay_position WHERE cluster_id IS NOT NULL",
            )
        return _query_ok(
            self.endpoints.database_url,
            "SELECT 1 FROM stream_workers WHERE pid = %s AND assigned_at IS NOT NULL",
            (process.pid,),
        )


def _check_database(url: str) -> None:
    try:
        psycopg.connect(url, connect_timeout=5).close()
    except psycopg.Error as error:
        message = f"PostgreSQL at LEDGER_DATABASE_URL is not reachable: {error}"
        raise StartupFailed(message) from None


def _check_broker(bootstrap: str) -> None:
    hosts = [h.rsplit(":", 1) for h in bootstrap.split(",") if h.strip()]
    if not any(port_open(host.strip(), int(port)) for host, port in hosts):
        raise StartupFailed(f"no Kafka broker reachable at LEDGER_KAFKA_BOOTSTRAP={bootstrap}")


def _http_ok(url: str) -> bool:
    try:
        return httpx.get(url, timeout=1.0).status_code == 200
    except httpx.HTTPError:
        return False


def _query_ok(url: str, query: str, params: tuple = ()) -> bool:
    try:
        with psycopg.connect(url, connect_timeout=2) as conn:
            return conn.execute(query, params).fetchone() is not None
    except psycopg.Error:
        return False  # not created yet, or not reachable yet


def running_endpoints(data_dir: Path) -> Endpoints | None:
    """The endpoints of a stack `ledger up` is running from ``data_dir``, if any."""
    try:
        return Endpoints(**json.loads((data_dir / ENDPOINTS_FILE).read_text()))
    except (OSError, ValueError, TypeError):
        return None


__all__ = ["Endpoints", "Stack", "running_endpoints"]
