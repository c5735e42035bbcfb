"""Every Sessions-screen filter on the session_list read model, through PostgreSQL.

Five sessions with hand-picked facts are projected by the real engine; each case names the
sessions a filter must return (newest first). Times without a zone are Berlin time.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta

import pytest
from psycopg_pool import ConnectionPool

from api.queries import SessionQueries
from api.session_filters import InvalidCursor, InvalidFilter, SessionListQuery
from domain.rules import RuleSet
from infra.database import apply_schema, create_pool
from infra.event_store import EventStore
from projections.asr_metrics import AsrMetrics
from projections.engine import ProjectionEngine
from projections.registry import read_model_schema
from projections.session_list import SessionListProjection
from tests.builders import REVIEWER, SessionScript

BERLIN = RuleSet.model_validate({"defaults": {"time_zone": "Europe/Berlin"}})
DAY = timedelta(days=1)
MONDAY = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def _ada() -> SessionScript:
    script = SessionScript(at=MONDAY).start(
        agent_id="concierge",
        channel="web",
        deployment="prod",
        integration="hubspot",
        contact={"name": "Ada Lovelace", "email": "ada@example.com"},
        ip="10.0.0.1",
        location={"country": "DE"},
    )
    script.say("a table for four?", attachments=[{"name": "menu.pdf"}]).reply("sure").say("8pm")
    script.record("session.goal_reached", goal="booking")
    script.record("session.tag_added", actor=REVIEWER, tag="vip")
    script.record(
        "session.analyzed",
        is_lead=True,
        units=4,
        session_type="booking",
        auto_assessment="Yes-A",
        conversation_quality=5,
    )
    return script.close()


def _bob() -> SessionScript:
    script = SessionScript(at=MONDAY + DAY + timedelta(hours=1)).start(
        agent_id="concierge",
        channel="sms",
        contact={"name": "Bob Smith", "phone": "+4912345"},
        ip="10.0.0.2",
        location={"country": "FR"},
    )
    script.say("refund?", message_id="b1").reply("let me check")
    script.record("session.handover_requested", trigger="customer_request")
    script.record("session.sentiment_scored", scope="session", label="negative", score=-0.7)
    return script.record(
        "session.question_missed", message_id="b1", question="refund?", source="api"
    )


def _cyd() -> SessionScript:
    script = SessionScript(at=MONDAY + 2 * DAY).start(
        agent_id="sales",
        channel="web",
        contact={"name": "Cyd Smithers"},
        external_id="CRM-42",
        location={"country": "DE"},
    )
    script.reply("hello?")
    script.record("session.handover_requested", trigger="manual")
    script.record("session.human_agent_assigned", agent_id="op-1", agent_name="Olga")
    script.record("session.tag_added", actor=REVIEWER, tag="vip")
    script.record("session.tag_added", actor=REVIEWER, tag="angry")
    script.record("session.analyzed", auto_assessment="No", conversation_quality=2)
    return script.record(
        "session.human_assessment_set", actor=REVIEWER, assessment="Yes-A", reason="it did"
    )


def _dee() -> SessionScript:
    script = SessionScript(at=MONDAY + 3 * DAY).start(agent_id="sales", channel="voice")
    for text in ("one", "two", "three", "four", "five"):
        script.say(text)
    return script.record(
        "session.flag_set", actor=REVIEWER, flag="is_test", value=True, reason="qa"
    )


def _eve() -> SessionScript:
    # 23:30 UTC on Friday 6 March is 00:30 on Saturday 7 March in Berlin.
    script = SessionScript(at=datetime(2026, 3, 6, 23, 30, tzinfo=UTC)).start(
        agent_id="concierge", channel="web"
    )
    script.record("session.journey_block_entered", block_id="b1", name="Greeting")
    script.record("session.form_submitted", form_name="reservation")
    for flag in ("is_todo", "is_favorite", "is_archived"):
        script.record("session.flag_set", actor=REVIEWER, flag=flag, value=True, reason="later")
    return script


SCRIPTS = {"ada": _ada, "bob": _bob, "cyd": _cyd, "dee": _dee, "eve": _eve}


@contextmanager
def session_list_engine(
    database_url: str, rules: RuleSet
) -> Iterator[tuple[ProjectionEngine, ConnectionPool]]:
    """The engine with session_list (and asr_metrics) under ``rules``, on a fresh database."""
    apply_schema(database_url, read_model_schema())
    store = EventStore(database_url, pool_size=2)
    store.create_schema()
    pool = create_pool(database_url)
    projection = SessionListProjection(rules, derived=[AsrMetrics()])
    try:
        yield ProjectionEngine(pool, [projection], store), pool
    finally:
        pool.close()
        store.close()


@pytest.fixture(scope="module")
def listing(new_database):
    """The five sessions, projected once: the tests only read them (or use another workspace)."""
    with session_list_engine(new_database(), BERLIN) as (engine, pool):
        names = {}
        for name, build in SCRIPTS.items():
            script = build()
            engine.apply_batch(script.events)
            names[script.id] = name
        queries = SessionQueries(pool, BERLIN)

        def listed(**params) -> list[str]:
            page = queries.page("w1", SessionListQuery(**params))
            return [names[item.session_id] for item in page.items]

        listed.queries = queries
        listed.engine = engine
        yield listed


CASES = [
    ({}, "eve cyd bob ada"),
    ({"include_test": True}, "eve dee cyd bob ada"),
    ({"is_test": True}, "dee"),
    ({"agents": ["concierge"]}, "eve bob ada"),
    ({"agents": ["concierge", "sales"]}, "eve cyd bob ada"),
    ({"channels": ["sms", "voice"]}, "bob"),
    ({"deployment": "prod"}, "ada"),
    ({"responsible": "unassigned"}, "bob"),
    ({"responsible": "human"}, "cyd"),
    ({"responsible": "ai"}, "eve ada"),
    ({"human_agent": "op-1"}, "cyd"),
    ({"statuses": ["closed"]}, "ada"),
    ({"statuses": ["handed_over", "resolved"]}, "cyd bob"),
    ({"contact": "smith"}, "cyd bob"),
    ({"contact": "crm-4"}, "cyd"),
    ({"contact": "ADA@EXAMPLE"}, "ada"),
    ({"contact": "+49123"}, "bob"),
    ({"contact": "%"}, ""),
    ({"country": "DE"}, "cyd ada"),
    ({"ip": "10.0.0.2"}, "bob"),
    ({"started_from": "2026-03-03T00:00", "started_to": "2026-03-05T00:00"}, "cyd bob"),
    # Naive times are Berlin's: 7 March 00:00 there is 6 March 23:00 UTC, before eve started.
    ({"started_from": "2026-03-07T00:00"}, "eve"),
    ({"started_to": "2026-03-06T23:00:00+00:00"}, "cyd bob ada"),
    ({"finished_from": "2026-03-01"}, "ada"),
    ({"last_message_from": "2026-03-03T11:00", "last_message_to": "2026-03-05"}, "cyd bob"),
    ({"message_count": 3, "message_count_op": "gte"}, "ada"),
    ({"message_count": 3, "message_count_op": "gte", "include_test": True}, "dee ada"),
    ({"message_count": 0}, "eve"),
    ({"message_count": 2, "message_count_op": "ne"}, "eve cyd ada"),
    ({"message_count": 2, "message_count_op": "lt"}, "eve cyd"),
    ({"message_count": 1, "message_count_op": "lte"}, "eve cyd"),
    ({"message_count": 2, "message_count_op": "gt"}, "ada"),
    ({"has_attachments": True}, "ada"),
    ({"has_customer_responses": False}, "eve cyd"),
    ({"sentiment": "negative"}, "bob"),
    ({"negative_sentiment": True}, "bob"),
    ({"goals": ["booking", "refund"]}, "ada"),
    ({"has_goals": True}, "ada"),
    ({"has_goals": False}, "eve cyd bob"),
    ({"journey_blocks": ["Greeting"]}, "eve"),
    ({"forms": ["reservation"]}, "eve"),
    ({"tags": ["vip", "angry"]}, "cyd ada"),
    ({"tags": ["vip", "angry"], "tags_match": "all"}, "cyd"),
    ({"session_type": "booking"}, "ada"),
    ({"integration": "hubspot"}, "ada"),
    ({"is_lead": True}, "ada"),
    ({"is_opportunity": True}, "ada"),
    ({"is_todo": True}, "eve"),
    ({"is_favorite": True}, "eve"),
    ({"is_archived": False}, "cyd bob ada"),
    ({"auto_assessment": "No"}, "cyd"),
    ({"human_assessment": "Yes-A"}, "cyd"),
    ({"effective_assessment": "Yes-A"}, "cyd ada"),
    ({"corrected_by_reviewer": True}, "cyd"),
    ({"session_length": "short"}, "eve cyd"),
    ({"session_length": "medium"}, "bob ada"),
    ({"has_missed_questions": True}, "bob"),
    # several at once: every one must hold
    ({"agents": ["concierge"], "channels": ["web", "sms"], "country": "DE"}, "ada"),
    (
        {
            "tags": ["vip"],
            "effective_assessment": "Yes-A",
            "started_from": "2026-03-04",
            "statuses": ["handed_over"],
            "contact": "smith",
        },
        "cyd",
    ),
    ({"agents": ["concierge"], "has_customer_responses": True, "is_lead": False}, "bob"),
]


@pytest.mark.parametrize(("params", "expected"), CASES, ids=[str(c[0]) for c in CASES])
def test_filter(listing, params, expected):
    assert listing(**params) == expected.split()


def test_presets_reach_back_from_now(listing):
    now = datetime.now(UTC)
    for hours_ago, name in ((2, "recent"), (72, "this week")):
        script = SessionScript("presets", at=now - timedelta(hours=hours_ago))
        listing.engine.apply_batch(script.start(contact={"name": name}).events)

    def contacts(**params) -> list[str | None]:
        page = listing.queries.page("presets", SessionListQuery(**params))
        return [item.contact_name for item in page.items]

    assert contacts(started_within="last_24h") == ["recent"]
    assert contacts(started_within="last_7d") == ["recent", "this week"]
    assert contacts(last_message_within="last_30d") == []


@pytest.mark.parametrize(
    ("sort", "order", "expected"),
    [
        ("started_at", "desc", "eve cyd bob ada"),
        ("started_at", "asc", "ada bob cyd eve"),
        # eve has no message yet: oldest by last message
        ("last_message_at", "desc", "cyd bob ada eve"),
        ("last_message_at", "asc", "eve ada bob cyd"),
    ],
)
def test_keyset_pages_walk_the_whole_list_in_order(listing, sort, order, expected):
    seen, cursor = [], None
    while True:
        page = listing.queries.page(
            "w1", SessionListQuery(sort=sort, order=order, limit=1, cursor=cursor)
        )
        seen.extend(page.items)
        cursor = page.next_cursor
        if cursor is None:
            break
    assert (
        " ".join(
            item.contact_name.split()[0].lower() if item.contact_name else "eve" for item in seen
        )
        == expected
    )


def test_a_cursor_only_continues_its_own_sort(listing):
    first = listing.queries.page("w1", SessionListQuery(limit=1))
    with pytest.raises(InvalidCursor) as refused:
        listing.queries.page(
            "w1", SessionListQuery(limit=1, sort="last_message_at", cursor=first.next_cursor)
        )
    assert refused.value.field == "cursor"
    with pytest.raises(InvalidCursor):
        listing.queries.page("w1", SessionListQuery(order="asc", cursor=first.next_cursor))
    with pytest.raises(InvalidCursor):
        listing.queries.page("w1", SessionListQuery(cursor="not-a-cursor"))


def test_an_inverted_time_range_names_its_end(listing):
    with pytest.raises(InvalidFilter) as refused:
        listing(started_from="2026-03-05", started_to="2026-03-01")
    assert refused.value.field == "started_to"


def test_another_workspace_sees_nothing(listing):
    assert listing.queries.page("w2", SessionListQuery()).items == []


def test_rows_carry_every_figure(listing):
    ada = next(item for item in listing.queries.page("w1", SessionListQuery(contact="ada")).items)
    assert (ada.goals, ada.tags, ada.rules_version, ada.lead_id) == (["booking"], ["vip"], 0, None)
    assert (ada.lead_value, ada.asr, ada.in_working_hours) == (1.0, 1.0, True)
    assert ada.duration_seconds == 210 and ada.finished_at is not None
