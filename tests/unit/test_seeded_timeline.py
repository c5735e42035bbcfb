"""Seeded conversations happen over time, as live traffic does, and the same way each run."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

from bench.scenarios import _timed
from bench.workload import Workload, as_commands

END = datetime(2026, 11, 22, 12, tzinfo=UTC)


def test_a_conversations_events_are_seconds_apart_and_end_at_the_given_instant():
    conversation = Workload(seed=5, min_messages=6).conversation()
    session_id, start, rest = _timed(*as_commands(conversation), END)

    times = [start.occurred_at, *(event.occurred_at for event in rest)]
    gaps = [later - earlier for earlier, later in itertools.pairwise(times)]
    assert times[-1] == END
    assert all(timedelta(seconds=2) <= gap <= timedelta(seconds=90) for gap in gaps)
    assert _timed(*as_commands(conversation), END) == (session_id, start, rest)
