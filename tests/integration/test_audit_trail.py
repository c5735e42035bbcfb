"""audit_trail on PostgreSQL: every judgement change with before → after, filters, pages."""

from __future__ import annotations

import itertools
import uuid
from datetime import UTC, datetime, timedelta

import pytest

from api.read_models import AuditQueries
from domain.envelope import Actor, ActorKind
from tests.builders import REVIEWER, SessionScript
from tests.review_builders import global_order, review_engine, status_changes

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
LEAD_REVIEWER = Actor(kind=ActorKind.api_key, id="key-7", name="QA bot")


@pytest.fixture
def trail(database_url, store):
    positions = itertools.count(1)
    script = SessionScript("w1", at=T0, step=timedelta(minutes=1), positions=positions)
    script.start().say("I want to book").reply("Sure")
    review = {"actor": REVIEWER}
    script.record("session.human_assessment_set", assessment="Yes-A", reason="booked", **review)
    script.record("session.human_assessment_set", assessment="No", reason="wrong date", **review)
    script.record("session.flag_set", flag="is_test", value=True, reason="QA run", **review)
    script.record("session.tag_added", tag="vip", **review)
    script.record("session.tag_removed", tag="vip", reason="not VIP", actor=LEAD_REVIEWER)
    script.record("session.comment_added", comment_id="c1", text="check the date", **review)
    script.record("session.handover_requested", trigger="manual", reason="angry", **review)
    script.record("session.human_agent_assigned", agent_id="op-1", agent_name="Olga", **review)
    script.record("session.resolved", note="rebooked", **review)
    script.record("session.human_assessment_cleared", reason="re-review", **review)
    group = uuid.uuid4()
    ignored = status_changes(group, "w1", [("ignored", "spam", T0)], positions=positions)
    other = SessionScript("w2", positions=positions).start()
    other.record("session.flag_set", flag="is_todo", value=True, reason="later", **review)
    engine = review_engine(database_url, store)
    engine.apply_batch(global_order(script.events, ignored, other.events))
    return AuditQueries(engine.pool), script, group


def changes(page) -> list[tuple]:
    return [(e.action, e.field, e.before, e.after, e.reason) for e in page.items]


def test_every_judgement_change_with_before_and_after_newest_first(trail):
    queries, script, _group = trail
    page = queries.page("w1", stream_id=script.id)
    assert changes(page) == [
        ("human_assessment_cleared", "human_assessment", "No", None, "re-review"),
        ("resolved", "status", None, "resolved", "rebooked"),
        ("human_agent_assigned", "human_agent", None, "op-1", None),
        ("handover_requested", "handover", None, "manual", "angry"),
        ("comment_added", "comments.c1", None, "check the date", None),
        ("tag_removed", "tags.vip", True, False, "not VIP"),
        ("tag_added", "tags.vip", False, True, None),
        ("flag_set", "flags.is_test", None, True, "QA run"),
        ("human_assessment_set", "human_assessment", "Yes-A", "No", "wrong date"),
        ("human_assessment_set", "human_assessment", None, "Yes-A", "booked"),
    ]
    newest = page.items[0]
    stored = script.events[-1]
    assert (newest.event_id, newest.hash, newest.version) == (
        stored.event_id,
        stored.hash,
        stored.version,
    )
    assert newest.actor == REVIEWER and newest.recorded_at == stored.recorded_at


def test_missed_question_status_changes_are_audited(trail):
    queries, _script, group = trail
    page = queries.page("w1", stream_id=group)
    assert changes(page) == [("status_changed", "status", "unresolved", "ignored", "spam")]
    assert page.items[0].stream_type == "missed_question"


def test_filters_by_actor_kind_and_time(trail):
    queries, _script, _group = trail
    assert changes(queries.page("w1", actor="key-7")) == [
        ("tag_removed", "tags.vip", True, False, "not VIP")
    ]
    assert len(queries.page("w1", kind="session.human_assessment_set").items) == 2
    assert len(queries.page("w1", kind="human_assessment_set").items) == 2
    window = queries.page(
        "w1", recorded_from=T0 + timedelta(minutes=5), recorded_to=T0 + timedelta(minutes=7)
    )
    assert [e.action for e in window.items] == ["tag_added", "flag_set"]  # minutes 5 and 6
    assert [e.action for e in queries.page("w2").items] == ["flag_set"]


def test_keyset_pages_cover_everything_once(trail):
    queries, _script, _group = trail
    everything = [e.event_id for e in queries.page("w1", limit=100).items]
    walked, cursor = [], None
    while True:
        page = queries.page("w1", limit=3, cursor=cursor)
        walked += [e.event_id for e in page.items]
        if not (cursor := page.next_cursor):
            break
    assert walked == everything and len(everything) == 11
