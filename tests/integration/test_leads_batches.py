"""Folding in one batch equals folding across several, for leads (where merges cross batches)
and, on the same events, missed_questions and audit_trail: the tables end up identical."""

from __future__ import annotations

import itertools
import random
from datetime import UTC, datetime, timedelta

import psycopg
import pytest

from infra.event_store import EventStore
from tests.builders import REVIEWER, SessionScript
from tests.review_builders import global_order, review_engine

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
EMAILS = ["a@x.io", "b@x.io", "c@x.io", None]
PHONES = ["+1 202 555 0101", "001 202 555 0102", None]
TABLES = {
    "leads": "lead_id",
    "lead_members": "session_id",
    "lead_identifiers": "workspace_id, kind, value",
    "lead_merges": "merged_id",
    "missed_question_groups": "group_id",
    "missed_question_occurrences": "session_id, version",
    "missed_question_daily": "workspace_id, agent_id, day",
    "missed_question_sessions": "session_id",
    "audit_trail": "event_id",
}


def a_world(seed: int) -> list:
    rng = random.Random(seed)
    positions = itertools.count(1)
    scripts = []
    for n in range(12):
        at = T0 + timedelta(hours=rng.randrange(72))
        contact = {"email": rng.choice(EMAILS), "phone": rng.choice(PHONES)}
        script = SessionScript("w1", at=at, positions=positions)
        script.start(agent_id=rng.choice(["a1", "a2"]), contact=contact).say(f"q{n}")
        if rng.random() < 0.6:
            question = rng.choice(["Open on Sunday?", "open  on Sunday?", "Price?"])
            script.record(
                "session.question_missed",
                message_id=script.last_message_id(),
                question=question,
                source="workflow",
            )
        script.say("more?")
        if rng.random() < 0.5:
            script.record("session.contact_identified", contact={"email": rng.choice(EMAILS[:3])})
        if rng.random() < 0.5:
            script.record(
                "session.flag_set", flag="is_todo", value=True, reason="x", actor=REVIEWER
            )
        scripts.append(script)
    return global_order(*(s.events for s in scripts))


def dump(url: str) -> dict[str, list[tuple]]:
    with psycopg.connect(url) as conn:
        return {
            table: conn.execute(f"SELECT * FROM {table} ORDER BY {key}").fetchall()
            for table, key in TABLES.items()
        }


def project(url: str, events: list, batch_sizes: list[int]) -> dict[str, list[tuple]]:
    store = EventStore(url, pool_size=1)
    store.create_schema()
    engine = review_engine(url, store)
    start = 0
    for size in itertools.cycle(batch_sizes):
        if start >= len(events):
            break
        engine.apply_batch(events[start : start + size])
        start += size
    engine.pool.close()
    store.close()
    tables = dump(url)
    with psycopg.connect(url) as conn:
        assert conn.execute("SELECT count(*) FROM parked_events").fetchone() == (0,)
    return tables


@pytest.mark.parametrize("seed", [1, 2])
def test_one_batch_equals_many(new_database, seed):
    events = a_world(seed)
    whole = project(new_database(), events, [len(events)])
    assert whole["lead_merges"] and whole["missed_question_occurrences"]
    assert project(new_database(), events, [1, 3, 2, 7]) == whole
