"""The drills' stage: a fresh stack per drill, supervised the way `ledger up` supervises it
(a crashed service is restarted), a steady ingest through the API, and a summary table of
every drill's counts at the end of the run."""

from __future__ import annotations

import json
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from bench.harness import render_table
from bench.load import Ingest, LoadStats, Plan, endless
from infra.stack import Stack
from tests.conftest import start_stack
from tests.drills.audit import DrillReport, audit

REPORTS: list[DrillReport] = []
REPORT_FILE = Path("test-artifacts/drills.json")
INGEST_RATE = 150.0  # events/s: steady, and leaves the 2 cores room for the fault's effects


class Supervisor:
    """``Stack.supervise`` in a thread, as `ledger up` runs it; ``paused()`` lifts it while a
    drill takes down a part whose absence would otherwise end the stack (PostgreSQL)."""

    def __init__(self, stack: Stack) -> None:
        self.stack = stack
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> Supervisor:
        self._stop = threading.Event()
        self._thread = threading.Thread(
            target=self.stack.supervise, args=(self._stop,), kwargs={"interval": 0.2}, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread:
            self._thread.join(30)

    @contextmanager
    def paused(self) -> Iterator[None]:
        self.stop()
        try:
            yield
        finally:
            self.start()


class Drill:
    """One drill's stack, its supervisor, its steady ingest, and its report."""

    def __init__(self, name: str, stack: Stack) -> None:
        self.stack = stack
        self.report = DrillReport(name)
        self.supervisor = Supervisor(stack).start()
        self.ingest: Ingest | None = None

    @property
    def url(self) -> str:
        return self.stack.endpoints.database_url

    def start_ingest(self, *, rate: float = INGEST_RATE, seed: int = 11) -> Ingest:
        # Retried for as long as a drill's outage lasts: acknowledged or not, never half-known.
        plan = Plan(clients=8, rate=rate, retry_for=120)
        self.ingest = Ingest(
            self.stack.endpoints.api_url, self.stack.api_keys["admin"], endless(seed), plan
        ).start()
        return self.ingest

    def wait_acknowledged(self, events: int, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while self.ingest.stats.events_acknowledged < events:
            assert time.monotonic() < deadline, f"fewer than {events} events acknowledged"
            time.sleep(0.1)

    def recovered_after(self, cleared_at: float, timeout: float = 180) -> float:
        """Seconds from ``cleared_at`` (the fault ended) until an event acknowledged after it
        is applied by every read model: the whole path works again."""
        deadline = time.monotonic() + timeout
        while True:
            later = [a for a in self.ingest.stats.acks if a.at > cleared_at]
            if later and _applied_everywhere(self.url, later[0].session_id, later[0].version):
                self.report.recover_seconds.append(round(time.monotonic() - cleared_at, 2))
                return self.report.recover_seconds[-1]
            assert time.monotonic() < deadline, "the ledger did not recover"
            time.sleep(0.1)

    def finish(self, *more: LoadStats) -> DrillReport:
        """Stop the ingest, then count what survived (of it and of ``more`` writers)."""
        every = [self.ingest.stop(), *more] if self.ingest else list(more)
        self.supervisor.stop()
        acked = {event_id for stats in every for event_id in stats.acknowledged_ids()}
        self.report.statuses = dict(sum((Counter(s.statuses) for s in every), Counter()))
        settings = self.stack.settings
        audit(self.report, self.url, self.stack.endpoints.bootstrap, settings.topic, acked)
        REPORTS.append(self.report)
        return self.report


def _applied_everywhere(url: str, session_id: str, version: int) -> bool:
    import psycopg

    from bench.ledger_state import projection_names

    with psycopg.connect(url) as conn:
        row = conn.execute(
            "SELECT count(*) FROM projection_streams WHERE stream_id = %s AND version >= %s",
            (session_id, version),
        ).fetchone()
    return row[0] == len(projection_names())


@pytest.fixture
def drill(request, new_database, tmp_path_factory) -> Iterator[Drill]:
    yield from _drill(request, new_database(), tmp_path_factory.mktemp("drill"))


@pytest.fixture
def drill_own_postgres(request, tmp_path_factory) -> Iterator[Drill]:
    """A drill whose stack runs its own embedded PostgreSQL, which the drill may restart."""
    yield from _drill(request, "", tmp_path_factory.mktemp("drill"))


def _drill(request, database_url: str, data_dir: Path) -> Iterator[Drill]:
    stack = start_stack(database_url, data_dir)
    running = Drill(request.node.name.removeprefix("test_"), stack)
    try:
        yield running
    finally:
        running.supervisor.stop()
        if running.ingest:
            running.ingest.stop(timeout=5)
        stack.stop()


def assert_survived(report: DrillReport) -> None:
    assert report.acknowledged > 0, report
    assert (report.lost, report.duplicated) == (0, 0), report
    assert report.stored == report.acknowledged, report
    assert report.projected == report.acknowledged, report
    assert not report.problems, report
    assert 500 not in report.statuses, report


def pytest_terminal_summary(terminalreporter) -> None:
    if not REPORTS:
        return
    header = (
        "drill",
        "acked",
        "stored",
        "kafka",
        "projected",
        "lost",
        "dup",
        "kafka copies",
        "recover s",
        "statuses",
    )
    lines = [
        (
            r.drill,
            r.acknowledged,
            r.stored,
            r.on_kafka,
            r.projected,
            r.lost,
            r.duplicated,
            r.kafka_copies,
            ", ".join(map(str, r.recover_seconds)) or "—",
            " ".join(f"{k}:{v}" for k, v in sorted(r.statuses.items())),
        )
        for r in REPORTS
    ]
    terminalreporter.section("fault drills")
    terminalreporter.write_line(render_table(header, lines))
    REPORT_FILE.parent.mkdir(exist_ok=True)
    REPORT_FILE.write_text(json.dumps([r.as_dict() for r in REPORTS], indent=2))
