"""The missed_questions fold: counts, runs of consecutive misses, the daily share."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from projections.missed_questions import DayCount, Occurrence, fold, summarise
from tests.builders import SessionScript

# a conversation: per customer message, whether it was missed (and missed twice)
TURNS = st.lists(st.sampled_from(["answered", "missed", "missed twice", "ai"]), max_size=25)


def conversation(turns: list[str]) -> list:
    script = SessionScript("w1").start(agent_id="a1")
    for n, turn in enumerate(turns):
        if turn == "ai":
            script.reply(f"a{n}")
            continue
        script.say(f"q{n}")
        for _ in range(turn.count("missed") + turn.count("twice")):
            script.record(
                "session.question_missed",
                message_id=script.last_message_id(),
                question=f" Question  {n % 3} ",
                source="api",
            )
    return script.events


def longest_run(turns: list[str]) -> int:
    customer = [t != "answered" for t in turns if t != "ai"]
    best = run = 0
    for missed in customer:
        run = run + 1 if missed else 0
        best = max(best, run)
    return best


@settings(max_examples=60, deadline=None)
@given(TURNS)
def test_fold_counts_misses_runs_and_share(turns):
    state, changes = None, []
    for event in conversation(turns):
        state, made = fold(state, event)
        changes += made
    misses = sum(t.count("missed") + t.count("twice") for t in turns)
    assert state.missed_count == misses
    assert state.longest_run == longest_run(turns)
    days = [c for c in changes if isinstance(c, DayCount)]
    assert sum(d.customer_messages for d in days) == sum(t != "ai" for t in turns)
    assert sum(d.missed for d in days) == sum(t.startswith("missed") for t in turns)
    summary = summarise(changes)
    assert sum(g.occurrences for g in summary.groups.values()) == misses
    assert all(g.sessions == 1 for g in summary.groups.values())  # one session
    assert {g.question for g in summary.groups.values()} <= {f"Question {i}" for i in range(3)}


def test_events_before_the_start_and_other_types_change_nothing():
    events = conversation(["missed"])
    assert fold(None, events[1]) == (None, [])
    state, _ = fold(None, events[0])
    assert fold(state, events[0].model_copy(update={"type": "session.closed"}))[1] == []
    _state, (occurrence, day) = fold(fold(state, events[1])[0], events[2])
    assert isinstance(occurrence, Occurrence) and occurrence.first_in_session
    assert (day.customer_messages, day.missed) == (0, 1)
