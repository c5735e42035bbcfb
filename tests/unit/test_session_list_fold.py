"""The session-list fold: every column from real sealed histories, and its invariants."""

from __future__ import annotations

import contextlib
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from domain.errors import DomainError
from domain.rules import RuleSet
from projections.session_list import fold, fold_all, longest_run
from tests.builders import REVIEWER, SessionScript


def _row(script: SessionScript, rules: RuleSet | None = None):
    return fold_all(None, script.events, rules or RuleSet())


def test_started_fields_and_counts():
    script = SessionScript().start(
        agent_id="concierge",
        channel="whatsapp",
        deployment="prod",
        integration="hubspot",
        contact={"name": "Ada", "phone": "+4930123"},
        external_id="crm-7",
        ip="10.0.0.1",
        location={"country": "DE", "city": "Berlin"},
        utm={"utm_source": "ads"},
    )
    script.say("hi", attachments=[{"name": "menu.pdf"}]).reply("hello")
    script.say("draft", role="copilot_draft").say("psst", role="private_note")
    script.say("I take over", role="human_agent")
    row = _row(script)
    assert (row.agent_id, row.channel, row.deployment, row.integration) == (
        "concierge",
        "whatsapp",
        "prod",
        "hubspot",
    )
    assert (row.contact_name, row.contact_phone, row.external_id) == ("Ada", "+4930123", "crm-7")
    assert (row.ip, row.country, row.city, row.utm) == (
        "10.0.0.1",
        "DE",
        "Berlin",
        {"utm_source": "ads"},
    )
    counts = (
        row.message_count,
        row.customer_message_count,
        row.ai_message_count,
        row.human_message_count,
    )
    assert counts == (3, 1, 1, 1)
    assert row.has_attachments and row.has_customer_responses
    assert row.version == 6 and row.rules_version == 0


def test_responsible_and_status_follow_the_handover():
    script = SessionScript().start().say("a human please")
    assert (_row(script).responsible, _row(script).status) == ("ai", "active")
    script.record("session.handover_requested", trigger="customer_request")
    assert (_row(script).responsible, _row(script).status) == ("unassigned", "handed_over")
    script.record("session.human_agent_assigned", agent_id="op-1", agent_name="Olga")
    row = _row(script)
    assert (row.responsible, row.human_agent_id, row.human_agent_name) == ("human", "op-1", "Olga")
    script.record("session.resolved")
    assert _row(script).status == "resolved"
    script.close()
    row = _row(script)
    assert (row.status, row.responsible) == ("closed", "human")
    assert row.finished_at == script.events[-1].occurred_at


def test_longest_run_counts_consecutive_missed_customer_messages():
    script = SessionScript().start()
    for index in range(5):
        script.say(f"q{index}", message_id=f"c{index}").reply(f"a{index}", message_id=f"a{index}")
    for missed in ("c0", "c2", "c3", "c4", "a1"):  # an AI message is missed too: no run
        script.record("session.question_missed", message_id=missed, question="?", source="api")
    row = _row(script)
    assert (row.missed_question_count, row.longest_missed_run) == (5, 3)


@pytest.mark.parametrize(
    ("ordinals", "expected"), [((), 0), ((4,), 1), ((0, 1, 3, 4, 5), 3), ((1, 3, 5), 1)]
)
def test_longest_run(ordinals, expected):
    assert longest_run(ordinals) == expected


def test_a_later_message_score_clears_the_negative_flag():
    script = SessionScript().start().say("this is awful", message_id="m1")
    script.record(
        "session.sentiment_scored", scope="message", message_id="m1", label="negative", score=-0.8
    )
    assert _row(script).negative_sentiment
    script.record(
        "session.sentiment_scored", scope="message", message_id="m1", label="neutral", score=0.0
    )
    assert not _row(script).negative_sentiment
    script.record("session.sentiment_scored", scope="session", label="negative", score=-0.5)
    row = _row(script)
    assert (row.sentiment, row.negative_sentiment) == ("negative", True)


def test_goals_journey_forms_and_tags():
    script = SessionScript().start()
    script.record("session.goal_reached", goal="booking").record(
        "session.goal_reached", goal="booking"
    )
    script.record("session.journey_block_entered", block_id="b1", name="Greeting")
    script.record("session.form_submitted", form_name="reservation", fields={"guests": 4})
    script.record("session.tag_added", actor=REVIEWER, tag="vip")
    script.record("session.tag_added", actor=REVIEWER, tag="angry")
    script.record("session.tag_removed", actor=REVIEWER, tag="angry")
    row = _row(script)
    assert (row.goals, row.journey_blocks, row.forms, row.tags) == (
        ("booking",),
        ("Greeting",),
        ("reservation",),
        ("vip",),
    )


def _lead(script: SessionScript, **analysis) -> SessionScript:
    fields = {
        "is_lead": True,
        "units": 4,
        "auto_assessment": "Yes-A",
        "conversation_quality": 5,
        **analysis,
    }
    return script.record("session.analyzed", **fields)


RESTAURANT = RuleSet.model_validate(
    {
        "version": 2,
        "defaults": {
            "lead_valuation": {
                "average_lead_value": None,
                "value_per_unit": 40,
                "unit_name": "guest",
            },
            "conversion_ratio": 0.9,
            "recognition": {"overflow": False, "missed_call_share": 0.25},
            "time_zone": "Europe/Berlin",
        },
    }
)


def test_asr_fields_are_recomputed_when_an_override_arrives():
    # Started Monday 2 March 2026 09:00 UTC = 10:00 Berlin: inside the default 09-17 hours.
    script = SessionScript().start(contact={"email": "ada@example.com"})
    _lead(script)
    row = _row(script, RESTAURANT)
    # 4 guests x 40 x 0.9 x 1 (Yes-A) x 0.25 = 36
    assert (row.lead_value, row.is_opportunity, row.asr) == (160.0, True, pytest.approx(36.0))
    assert (row.in_working_hours, row.recognition, row.rules_version) == (True, 0.25, 2)
    script.record("session.human_assessment_set", actor=REVIEWER, assessment="No", reason="no")
    row = _row(script, RESTAURANT)
    assert (row.effective_assessment, row.corrected_by_reviewer, row.asr) == ("No", True, 0.0)
    script.record("session.human_assessment_cleared", actor=REVIEWER, reason="my mistake")
    assert _row(script, RESTAURANT).asr == pytest.approx(36.0)
    script.record(
        "session.flag_set", actor=REVIEWER, flag="is_opportunity", value=False, reason="spam"
    )
    row = _row(script, RESTAURANT)
    assert (row.is_opportunity, row.asr) == (False, 0.0)


def test_no_contact_means_no_opportunity_until_one_is_identified():
    script = _lead(SessionScript().start())
    assert not _row(script).is_opportunity
    script.record("session.contact_identified", contact={"phone": "+491701234"})
    assert _row(script).is_opportunity


def test_local_day_and_length_class_follow_the_rules():
    late = datetime(2026, 3, 2, 23, 30, tzinfo=UTC)  # 00:30 on 3 March in Berlin
    script = SessionScript(at=late, step=timedelta(minutes=5)).start().say("hi").close()
    row = _row(script, RESTAURANT)
    assert str(row.started_day) == "2026-03-03"
    assert (row.duration_seconds, row.session_length) == (600, "long")
    assert str(_row(script).started_day) == "2026-03-02"  # UTC by default


# --- invariants over random histories -----------------------------------------------------------


def _step(script: SessionScript, kind: str, pick: int) -> None:
    messages = script.session.state.transcript
    target = messages[pick % len(messages)].message_id if messages else None
    actions = {
        "say": lambda: script.say("question?"),
        "reply": lambda: script.reply("answer"),
        "human": lambda: script.say("operator here", role="human_agent"),
        "note": lambda: script.say("note", role="private_note"),
        "missed": lambda: script.record(
            "session.question_missed", message_id=target, question="?", source="workflow"
        ),
        "negative": lambda: script.record(
            "session.sentiment_scored",
            scope="message",
            message_id=target,
            label="negative",
            score=-1,
        ),
        "neutral": lambda: script.record(
            "session.sentiment_scored", scope="message", message_id=target, label="neutral", score=0
        ),
        "goal": lambda: script.record("session.goal_reached", goal=f"g{pick % 3}"),
        "tag": lambda: script.record("session.tag_added", tag=f"t{pick % 3}"),
        "untag": lambda: script.record("session.tag_removed", tag=f"t{pick % 3}"),
        "analyze": lambda: _lead(script, auto_assessment=["Yes-A", "No"][pick % 2]),
        "assess": lambda: script.record(
            "session.human_assessment_set", assessment="Yes-B", reason="checked"
        ),
        "test": lambda: script.record(
            "session.flag_set", flag="is_test", value=bool(pick % 2), reason="qa"
        ),
        "identify": lambda: script.record(
            "session.contact_identified", contact={"email": "x@example.com"}
        ),
        "handover": lambda: script.record("session.handover_requested", trigger="manual"),
        "assign": lambda: script.record("session.human_agent_assigned", agent_id="op"),
        "close": lambda: script.close(),
    }
    # A step the session's rules refuse is left out: the history simply goes on without it.
    with contextlib.suppress(DomainError, LookupError, ValueError):
        actions[kind]()


KINDS = [
    "say",
    "reply",
    "human",
    "note",
    "missed",
    "negative",
    "neutral",
    "goal",
    "tag",
    "untag",
    "analyze",
    "assess",
    "test",
    "identify",
    "handover",
    "assign",
    "close",
]
histories = st.lists(st.tuples(st.sampled_from(KINDS), st.integers(0, 50)), max_size=25)


def history_of(steps) -> SessionScript:
    script = SessionScript().start()
    for kind, pick in steps:
        _step(script, kind, pick)
    return script


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(histories, st.lists(st.integers(1, 10), max_size=5))
def test_folding_in_batches_equals_folding_at_once(steps, cuts):
    events = history_of(steps).events
    at_once = fold_all(None, events, RESTAURANT)
    row, start = None, 0
    for cut in [*sorted(cuts), len(events)]:
        row = fold_all(row, events[start:cut], RESTAURANT)
        start = max(start, cut)
    assert row == at_once


@settings(max_examples=60, deadline=None)
@given(histories)
def test_the_row_agrees_with_the_aggregates_state(steps):
    script = history_of(steps)
    state, row = script.session.state, fold_all(None, script.events)
    assert row.status == state.status.value
    assert row.message_count == state.message_count
    assert row.last_message_at == state.last_message_at
    assert list(row.tags) == state.tags
    assert row.effective_assessment == (
        state.effective_assessment and state.effective_assessment.value
    )
    assert row.is_test == state.flags.get("is_test", False)
    assert row.missed_question_count == len(state.missed_questions)
    assert set(row.goals) == {goal.goal for goal in state.goals}
    assert row.contact_email == state.contact.email
    assert row.version == state.version


def test_fold_is_pure():
    script = SessionScript().start().say("hi")
    first = fold(None, script.events[0])
    again = fold(first, script.events[1])
    assert fold(None, script.events[0]) == first and again.message_count == 1
