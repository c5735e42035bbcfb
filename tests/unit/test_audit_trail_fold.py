"""The audit_trail fold: which events are judgement changes, and how each reads."""

from __future__ import annotations

from projections import audit_trail
from projections.audit_trail import AUDITED, Audited, audit_entry
from tests.builders import REVIEWER, SessionScript


def reviewed() -> SessionScript:
    return SessionScript("w1").start().say("hi")


def test_a_flag_override_reads_as_before_and_after():
    script = reviewed().record(
        "session.flag_set", flag="is_opportunity", value=False, reason="no", actor=REVIEWER
    )
    entry = audit_entry(script.events[-1])
    assert (entry.field, entry.before, entry.after, entry.reason) == (
        "flags.is_opportunity",
        None,
        False,
        "no",
    )
    assert (entry.actor_kind, entry.actor_id, entry.actor_name) == (
        "user",
        "rev-1",
        "Rita Reviewer",
    )
    assert entry.hash == script.events[-1].hash


def test_conversation_events_are_not_audited():
    assert [audit_entry(e) for e in reviewed().events] == [None, None]


def test_auditing_another_type_is_one_entry(monkeypatch):
    script = reviewed().record("session.goal_reached", goal="booking", value=120.0)
    monkeypatch.setitem(AUDITED, "session.goal_reached", Audited("goals.{goal}", after="value"))
    entry = audit_trail.audit_entry(script.events[-1])
    assert (entry.action, entry.field, entry.after) == ("goal_reached", "goals.booking", 120.0)


def test_a_reassignment_reads_as_the_agent_taken_over_from_and_why():
    script = reviewed().record("session.handover_requested", trigger="customer_request")
    script.record("session.human_agent_assigned", agent_id="op-7", actor=REVIEWER)
    script.record(
        "session.human_agent_assigned", agent_id="op-8", reason="op-7 off shift", actor=REVIEWER
    )
    first, second = (audit_entry(e) for e in script.events[-2:])
    assert (first.field, first.before, first.after) == ("human_agent", None, "op-7")
    assert (second.before, second.after, second.reason) == ("op-7", "op-8", "op-7 off shift")
