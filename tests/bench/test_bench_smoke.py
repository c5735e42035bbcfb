"""Every benchmark scenario at a tiny size, so the harness cannot rot between `make bench`
runs. The figures are not checked here: only that each was measured and reported."""

from __future__ import annotations

import json
import os

import psycopg
import pytest

from bench import suite
from bench.workload import Workload

pytestmark = pytest.mark.stack

TINY = ["--scale", "0.01", "--freshness-seconds", "3", "--freshness-rate", "100"]


def bench_databases() -> set[str]:
    """The scratch databases on LEDGER_DATABASE_URL's server whose names the benchmark uses."""
    server = os.environ.get("LEDGER_DATABASE_URL")
    if not server:
        return set()
    with psycopg.connect(server, autocommit=True) as conn:
        rows = conn.execute("SELECT datname FROM pg_database WHERE datname LIKE 'bench%'")
        return {name for (name,) in rows}


def test_every_scenario_reports_a_figure(tmp_path, capsys):
    databases_before = bench_databases()
    rows = suite.main([*TINY, "--out", str(tmp_path)])

    assert all(r.value is not None for r in rows)
    assert {r.figure for r in rows} >= {
        "worker start",
        "freshness p99",
        "rebuild session_list",
        "peak RSS, worker",
    }
    assert all(r.raw_limit for r in rows if r.figure.startswith(("ingest", "streaming")))
    (result,) = tmp_path.glob("bench-*.json")
    document = json.loads(result.read_text())
    assert len(document["rows"]) == len(rows)
    assert all(seconds > 0 for seconds in document["options"]["cpu_probe_seconds"].values())
    assert "ratio" in capsys.readouterr().out
    # Measured on the server LEDGER_DATABASE_URL gives, when it gives one, in scratch
    # databases that are gone afterwards; else on the embedded PostgreSQL.
    where = "LEDGER_DATABASE_URL" if os.environ.get("LEDGER_DATABASE_URL") else "embedded"
    assert where in document["options"]["database"]
    assert bench_databases() == databases_before


def test_the_workload_is_reproducible_and_skewed():
    first, again = Workload(seed=9).conversations(500), Workload(seed=9).conversations(500)
    assert [c.start for c in first] == [c.start for c in again]
    assert [c.events for c in first] == [c.events for c in again]
    sizes = sorted(c.event_count for c in first)
    assert sizes[len(sizes) // 2] < 20 < sizes[-1]  # most short, a long tail
    types = {e["type"] for c in first for e in c.events}
    assert {
        "session.question_missed",
        "session.handover_requested",
        "session.goal_reached",
    } <= types
