"""One fold, any batching: the same histories projected in one batch, or in random slices
interleaved across sessions and partly delivered twice, give identical tables."""

from __future__ import annotations

import random
from datetime import UTC, datetime

import psycopg

from domain.asr import STAR_WEIGHT
from domain.rules import RuleSet
from infra.database import apply_schema
from projections.asr_metrics import AsrMetrics
from projections.registry import read_model_schema
from projections.session_list import MESSAGE_COLUMNS, SessionListProjection
from tests.builders import SessionScript
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
            metrics = conn.execute(f"{METRICS} ORDER BY 1, 2, 3, 4").fetchall()
            assert metrics == conn.execute(f"{METRICS_ADDED_UP} ORDER BY 1, 2, 3, 4").fetchall()
        return rows, metrics


# asr_metrics as the stream left it (groups whose sessions all became tests hold zeros), and
# added up from session_list's rows as they are, in one go.
METRICS = "SELECT * FROM asr_metrics WHERE sessions > 0"
METRICS_ADDED_UP = f"""
SELECT workspace_id, agent_id, channel, started_day, count(*)::int,
       (count(*) FILTER (WHERE is_lead))::int, (count(*) FILTER (WHERE is_opportunity))::int,
       sum(lead_value::numeric), sum(asr::numeric),
       coalesce(sum(success_factor::numeric) FILTER (WHERE is_opportunity), 0),
       (count(success_factor) FILTER (WHERE is_opportunity))::int,
       coalesce({STAR_WEIGHT!r}::numeric * sum(conversation_quality), 0),
       count(conversation_quality)::int, max(rules_version)
FROM session_list WHERE NOT is_test AND started_day IS NOT NULL
GROUP BY workspace_id, agent_id, channel, started_day
"""


def _histories(rng: random.Random) -> list[list]:
    """Eight sessions' histories of 30 random facts each."""
    return [
        history_of([(rng.choice(KINDS), rng.randrange(50)) for _ in range(30)]).events
        for _ in range(8)
    ]


def test_batching_does_not_change_the_tables(new_database):
    rng = random.Random(20260302)
    histories = _histories(rng)
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


def test_a_table_of_floating_point_sums_is_migrated_to_exact_ones(new_database):
    url = new_database()
    histories = _histories(random.Random(7))
    projected = _project(url, [[event for events in histories for event in events]])
    sums = ("lead_value", "asr", "success_sum", "quality_sum")
    with psycopg.connect(url, autocommit=True) as conn:
        # As the table was before: floating-point sums, here off by a visible amount.
        conn.execute(
            "ALTER TABLE asr_metrics " + ", ".join(f"ALTER {c} TYPE double precision" for c in sums)
        )
        conn.execute("UPDATE asr_metrics SET asr = asr + 0.001, quality_sum = quality_sum + 0.001")
    apply_schema(url, AsrMetrics().schema())
    with psycopg.connect(url) as conn:
        types = conn.execute(
            "SELECT column_name, data_type FROM information_schema.columns"
            " WHERE table_name = 'asr_metrics' AND column_name = ANY(%s)",
            (list(sums),),
        ).fetchall()
        assert dict(types) == dict.fromkeys(sums, "numeric")
        assert conn.execute(f"{METRICS} ORDER BY 1, 2, 3, 4").fetchall() == projected[1]


def test_the_message_update_reads_each_column_as_the_table_types_it(new_database):
    url = new_database()
    apply_schema(url, SessionListProjection(RULES).schema())
    with psycopg.connect(url) as conn:
        types = dict(
            conn.execute(
                "SELECT attname, format_type(atttypid, atttypmod) FROM pg_attribute"
                " WHERE attrelid = 'session_list'::regclass AND attnum > 0"
            ).fetchall()
        )
    assert {column: types[column] for column in MESSAGE_COLUMNS} == MESSAGE_COLUMNS


def test_a_session_whose_reported_times_span_centuries_is_listed_not_parked(new_database):
    """Clients report when things happened; a span past 2**31 seconds (68 years) once
    overflowed the duration column and parked every later event of the session."""
    script = SessionScript(at=datetime(1900, 1, 1, tzinfo=UTC)).start()
    script.clock = datetime(2026, 1, 1, tzinfo=UTC)
    script.say("hello, a century later").record("session.tag_added", tag="after")
    with session_list_engine(new_database(), RULES) as (engine, pool):
        engine.apply_batch(script.events)
        with pool.connection() as conn:
            row = conn.execute(
                "SELECT duration_seconds, version, tags FROM session_list"
            ).fetchone()
            parked = conn.execute("SELECT count(*) FROM parked_events").fetchone()
    assert row == (3_976_214_400, 3, ["after"]) and parked == (0,)


def test_a_list_made_with_an_integer_duration_is_widened_in_place(new_database):
    url = new_database()
    apply_schema(url, read_model_schema())
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("ALTER TABLE session_list ALTER duration_seconds TYPE integer")
    apply_schema(url, read_model_schema())
    with psycopg.connect(url) as conn:
        (data_type,) = conn.execute(
            "SELECT data_type FROM information_schema.columns"
            " WHERE table_name = 'session_list' AND column_name = 'duration_seconds'"
        ).fetchone()
    assert data_type == "bigint"
