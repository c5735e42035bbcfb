"""One fold, any batching: the same histories projected in one batch, or in random slices
interleaved across sessions and partly delivered twice, give identical tables."""

from __future__ import annotations

import random

from domain.rules import RuleSet
from tests.integration.test_session_list_filters import session_list_engine
from tests.unit.test_session_list_fold import KINDS, history_of

RULES = RuleSet.model_validate(
    {"version": 1, "defaults": {"time_zone": "America/New_York", "conversion_ratio": 0.8}}
)


def _project(database_url: str, batches) -> tuple[list, list]:
    with session_list_engine(database_url, RULES) as (engine, pool):
        for batch in batches:
            engine.apply_batch(batch)
        with pool.connection() as conn:
            rows = conn.execute("SELECT * FROM session_list ORDER BY session_id").fetchall()
            metrics = conn.execute("SELECT * FROM asr_metrics ORDER BY 1, 2, 3, 4").fetchall()
        return rows, metrics


def test_batching_does_not_change_the_tables(new_database):
    rng = random.Random(20260302)
    histories = [
        history_of([(rng.choice(KINDS), rng.randrange(50)) for _ in range(30)]).events
        for _ in range(8)
    ]
    everything = [event for events in histories for event in events]

    pending = [list(events) for events in histories]
    slices = []
    while any(pending):
        events = rng.choice([p for p in pending if p])
        size = rng.randint(1, 4)
        slices.append(events[:size])
        del events[: max(1, size - 1)]  # the last event of most slices comes again: redelivery

    at_once = _project(new_database(), [everything])
    sliced = _project(new_database(), slices)
    assert sliced == at_once
    assert len(at_once[0]) == 8 and at_once[1]
