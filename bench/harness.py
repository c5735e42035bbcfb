"""What every benchmark shares: a stack to measure, result rows, the report (a table on the
terminal and JSON in bench-results/), and the memory sampler."""

from __future__ import annotations

import json
import math
import os
import platform
import threading
import time
import uuid
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import psutil
import psycopg

from api.auth import Role
from api.cli.keys import issue_key
from infra.database import create_database, drop_database, server_url
from infra.settings import Settings
from infra.stack import Stack

RESULTS_DIR = Path("bench-results")
MB = 1024 * 1024


@dataclass
class Row:
    """One figure, beside the raw limit measured in the same run when there is one."""

    figure: str
    value: float | None
    unit: str
    target: str
    met: bool | None = None
    raw_limit: float | None = None
    raw_unit: str = ""
    note: str = ""

    @property
    def ratio(self) -> float | None:
        if self.value is None or not self.raw_limit:
            return None
        return self.value / self.raw_limit


def percentile(values: list[float], share: float) -> float:
    """Nearest-rank percentile (no interpolation: a reported p99 is a measured sample)."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(share * len(ordered)) - 1)]


class BenchStack:
    """The real stack (embedded PostgreSQL and broker) in a scratch directory, with an admin
    key, started exactly as `ledger up` starts it.

    Given a PostgreSQL ``server`` (``LEDGER_DATABASE_URL`` by default), the stack uses a
    scratch database of its own on it, created here and dropped on exit, instead of the
    embedded server: the figures are then that server's, and the scenarios' own scratch
    databases go to it too. The broker stays embedded."""

    def __init__(
        self, data_dir: Path, *, workspace: str = "bench", server: str | None = None
    ) -> None:
        server = os.environ.get("LEDGER_DATABASE_URL", "") if server is None else server
        self.database = (
            ScratchDatabase(server_url(server, f"bench_{uuid.uuid4().hex[:8]}")) if server else None
        )
        self.settings = Settings(
            database_url=self.database.url if self.database else "",
            kafka_bootstrap="",
            api_port=0,
            demo_data="none",
            workspace=workspace,
            relay_idle_wait=0.05,
        )
        env = {"LEDGER_DEMO_DATA": "none", "LEDGER_RELAY_IDLE_WAIT": "0.05"}
        self.stack = Stack(self.settings, data_dir=data_dir, env=env)
        self.key = ""

    def __enter__(self) -> BenchStack:
        if self.database:
            self.database.__enter__()
        try:
            self.stack.start()
            self.key = issue_key(self.url, self.settings.workspace, Role.admin, "bench").secret
        except BaseException:
            self.__exit__()
            raise
        return self

    def __exit__(self, *_exc) -> None:
        self.stack.stop()
        if self.database:
            self.database.__exit__()

    @property
    def url(self) -> str:
        return self.stack.endpoints.database_url

    @property
    def api_url(self) -> str:
        return self.stack.endpoints.api_url

    def scratch_database(self, prefix: str) -> ScratchDatabase:
        return ScratchDatabase(server_url(self.url, f"{prefix}_{uuid.uuid4().hex[:8]}"))

    def describe_database(self) -> str:
        """Which PostgreSQL the figures are from: its version, embedded or the given server."""
        with psycopg.connect(self.url) as conn:
            version = conn.execute("SHOW server_version").fetchone()[0]
        where = "a server given by LEDGER_DATABASE_URL" if self.database else "embedded"
        return f"PostgreSQL {version.split()[0]} ({where})"


@dataclass
class ScratchDatabase:
    """A database of its own on the stack's server, dropped on exit."""

    url: str

    def __enter__(self) -> str:
        create_database(self.url)
        return self.url

    def __exit__(self, *_exc) -> None:
        drop_database(self.url)


@dataclass
class _Peak:
    first_mb: float = 0.0
    last_mb: float = 0.0
    peak_mb: float = 0.0


@dataclass
class MemorySampler:
    """Samples the RSS of the stack's services (re-reading their pids: a restarted worker is
    a new process) every ``interval`` seconds while the benchmarks run."""

    stack: Stack
    interval: float = 0.5
    peaks: dict[str, _Peak] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="rss-sampler", daemon=True)

    def __enter__(self) -> MemorySampler:
        self._thread.start()
        return self

    def __exit__(self, *_exc) -> None:
        self._stop.set()
        self._thread.join(5)

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            for name, process in list(self.stack.services.items()):
                for label, rss in _rss_mb(name, process.pid):
                    peak = self.peaks.setdefault(label, _Peak(first_mb=rss))
                    peak.last_mb, peak.peak_mb = rss, max(peak.peak_mb, rss)

    def rows(self, limit_mb: float = 300.0) -> list[Row]:
        return [
            Row(
                f"peak RSS, {name}",
                round(peak.peak_mb, 1),
                "MB",
                f"< {limit_mb:.0f} MB, flat",
                met=peak.peak_mb < limit_mb,
                note=f"first sample {peak.first_mb:.0f} MB, last {peak.last_mb:.0f} MB",
            )
            for name, peak in sorted(self.peaks.items())
        ]


class CpuMeter:
    """CPU seconds each part of the machine spent between ``start`` and ``stop``: the stack's
    services (the worker's projector child apart), every PostgreSQL process, and this
    process (the load generator). Per event, they say where a rate's machine went, and they
    compare across runs on machines of different speeds better than the rates do."""

    def __init__(self, stack: Stack) -> None:
        self.stack = stack
        self.spent: dict[str, float] = {}

    def start(self) -> CpuMeter:
        self._first = self._read()
        return self

    def stop(self) -> dict[str, float]:
        last = self._read()
        self.spent = {part: last[part] - self._first.get(part, 0.0) for part in last}
        return self.spent

    def per_event(self, events: int) -> str:
        """E.g. "api 661, PostgreSQL 260, ... µs; 1,522 µs in all"."""
        shares = sorted(self.spent.items(), key=lambda part: -part[1])
        parts = ", ".join(f"{name} {micros_each(seconds, events)}" for name, seconds in shares)
        total = micros_each(sum(self.spent.values()), events)
        return f"CPU per event: {parts} µs; {total} µs in all"

    def _read(self) -> dict[str, float]:
        seconds = {"load generator": time.process_time(), "PostgreSQL": postgres_cpu_seconds()}
        processes = dict(self.stack.services)
        if self.stack.broker and self.stack.broker.process:  # the embedded one
            processes["broker"] = self.stack.broker.process
        for name, process in processes.items():
            if not process.pid:
                continue
            try:
                own, children = process_cpu_seconds(process.pid)
            except psutil.Error:
                continue
            seconds[name] = own
            if children:
                seconds[f"{name} child"] = children
        return seconds


def micros_each(seconds: float, events: int) -> str:
    """``seconds`` spent on ``events``, in microseconds per event: "1,234"."""
    return f"{seconds / max(events, 1) * 1e6:,.0f}"


def process_cpu_seconds(pid: int) -> tuple[float, float]:
    """The process's CPU seconds, and its children's (the worker's projector process)."""
    process = psutil.Process(pid)
    own = process.cpu_times()
    children = (p.cpu_times() for p in process.children(recursive=True))
    return own.user + own.system, sum(times.user + times.system for times in children)


def postgres_cpu_seconds() -> float:
    """CPU seconds of every PostgreSQL process on this machine so far, and of the ended ones
    their server reaped (a partition's connections end with it); the servers the benchmark
    uses are local, and an idle one adds next to nothing."""
    total = 0.0
    for process in psutil.process_iter(["name", "cpu_times"]):
        times = process.info["cpu_times"]
        if process.info["name"] == "postgres" and times is not None:
            total += times.user + times.system + times.children_user + times.children_system
    return total


def _rss_mb(name: str, pid: int | None) -> list[tuple[str, float]]:
    """The service's RSS and, apart, its largest child's (the worker's projector process;
    multiprocessing's resource tracker is the other, small one)."""
    if not pid:
        return []
    try:
        process = psutil.Process(pid)
        sizes = [(name, process.memory_info().rss / MB)]
        children = [c.memory_info().rss / MB for c in process.children()]
    except psutil.Error:
        return []
    return sizes + ([(f"{name} child", max(children))] if children else [])


# --- the report -------------------------------------------------------------------------------


def _number(value: float | None) -> str:
    if value is None:
        return "—"
    return f"{value:,.0f}" if abs(value) >= 100 else f"{value:,.2f}"


def table(rows: list[Row]) -> str:
    header = ("figure", "value", "target", "raw limit", "ratio", "met", "note")
    lines = [
        (
            row.figure,
            f"{_number(row.value)} {row.unit}".strip() if row.value is not None else "not measured",
            row.target,
            f"{_number(row.raw_limit)} {row.raw_unit}".strip() if row.raw_limit else "—",
            f"{row.ratio:.0%}" if row.ratio is not None else "—",
            {True: "yes", False: "NO", None: "—"}[row.met],
            row.note,
        )
        for row in rows
    ]
    return render_table(header, lines)


def render_table(header: tuple, lines: list[tuple]) -> str:
    columns = zip(header, *lines, strict=True)
    widths = [max(len(str(cell)) for cell in column) for column in columns]
    rendered = [
        " | ".join(str(cell).ljust(width) for cell, width in zip(cells, widths, strict=True))
        for cells in [header, *lines]
    ]
    rendered.insert(1, "-+-".join("-" * width for width in widths))
    return "\n".join(rendered)


PROBE_ITERATIONS = 2_000_000


def cpu_probe_seconds() -> float:
    """Seconds one core takes for a fixed pure-Python loop, best of three: how fast this
    machine is right now. Shared cloud machines drift (measured here within one session:
    0.066 s in a fast spell, 0.132 s in a slow one), and every figure of the suite drifts
    with them, raw limits included; the probe before and after a run says whether two runs
    are comparable at all."""
    best = float("inf")
    for _ in range(3):
        started, total = time.perf_counter(), 0
        for number in range(PROBE_ITERATIONS):
            total += number
        best = min(best, time.perf_counter() - started)
    return round(best, 3)


def machine() -> dict:
    load1, load5, load15 = psutil.getloadavg()
    return {
        "cpus": psutil.cpu_count(),
        "memory_gb": round(psutil.virtual_memory().total / MB / 1024, 1),
        "python": platform.python_version(),
        "load_average": [round(load1, 2), round(load5, 2), round(load15, 2)],
    }


def write_results(rows: list[Row], options: dict, started: float, directory: Path) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    path = directory / f"bench-{stamp}.json"
    document = {
        "when": stamp,
        "seconds": round(time.monotonic() - started, 1),
        "options": options,
        "machine": machine(),
        "rows": [{**asdict(row), "ratio": row.ratio} for row in rows],
    }
    path.write_text(json.dumps(document, indent=2, default=str))
    return path
