"""Every benchmark scenario at a tiny size, so the harness cannot rot between `make bench`
runs. The figures are not checked here: only that each was measured and reported."""

from __future__ import annotations

import json

import pytest

from bench import suite
from bench.workload import Workload

pytestmark = pytest.mark.stack

TINY = ["--scale", "0.01", "--freshness-seconds", "3", "--freshness-rate", "100"]


def test_every_scenario_reports_a_figure(tmp_path, capsys):
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
    assert len(json.loads(result.read_text())["rows"]) == len(rows)
    assert "ratio" in capsys.readouterr().out


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
