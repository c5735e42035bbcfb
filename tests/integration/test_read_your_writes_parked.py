"""Read-your-writes over a parked event: the worker moved on from it, so must the check."""

from __future__ import annotations

import psycopg

from api.consistency import ReadModelProgress
from infra.database import apply_schema, create_pool
from projections.registry import read_model_schema
from tests.integration.test_verify import conversation


def test_a_parked_event_does_not_hold_the_list_behind_it(store):
    apply_schema(store.url, read_model_schema())
    applied, poisoned = conversation(store, messages=1), conversation(store, messages=1)
    with psycopg.connect(store.url, autocommit=True) as conn:
        conn.execute(
            "INSERT INTO projection_streams (projection, stream_id, version, position)"
            " VALUES ('session_list', %s, 2, 2), ('session_list', %s, 1, 3)",
            (applied, poisoned),
        )
        conn.execute(
            "INSERT INTO parked_events (projection, position, stream_id, version, error)"
            " VALUES ('session_list', 4, %s, 2, 'a poison event')",
            (poisoned,),
        )
    pool = create_pool(store.url, size=1, name="test")
    try:
        progress = ReadModelProgress(pool, ["session_list"])
        assert progress.applied_through("session_list", 4) == 4
        with psycopg.connect(store.url, autocommit=True) as conn:
            conn.execute("UPDATE parked_events SET retried_at = now()")  # retried: owed again
        assert ReadModelProgress(pool, ["session_list"]).applied_through("session_list", 4) == 3
    finally:
        pool.close()
