"""The missed_questions fold: counts, runs of consecutive misses, the daily share, and
grouping by the rules' normalisation."""

from __future__ import annotations

from datetime import timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from domain.identity import missed_question_group_id, normalised_question_group_id
from domain.rules import DEFAULT_RULES, MissedQuestionNormalisation, RuleSet
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


def occurrences(questions: list[str], rules: RuleSet = DEFAULT_RULES) -> list[Occurrence]:
    """The occurrences one session's misses of ``questions`` make under ``rules``."""
    script = SessionScript("w1").start(agent_id="a1")
    for question in questions:
        script.say(question).record(
            "session.question_missed",
            message_id=script.last_message_id(),
            question=question,
            source="api",
        )
    state, changes = None, []
    for event in script.events:
        state, made = fold(state, event, rules)
        changes += made
    return [c for c in changes if isinstance(c, Occurrence)]


def test_default_rules_keep_the_group_ids_statuses_were_recorded_under():
    found = occurrences(["Where is  X?", "where is x?"])
    assert [o.group_id for o in found] == [
        missed_question_group_id("w1", "a1", "Where is X?"),
        missed_question_group_id("w1", "a1", "where is x?"),
    ]
    assert all(o.wording_id == o.group_id and o.rules_version == 0 for o in found)
    assert [o.question for o in found] == ["Where is X?", "where is x?"]
    assert summarise(found).wordings == set()


def test_case_folding_rules_group_two_wordings_and_remember_their_ids():
    rules = RuleSet(version=1, missed_questions=MissedQuestionNormalisation(case_fold=True))
    upper, lower = occurrences(["Where is  X?", "where is x?"], rules)
    merged = normalised_question_group_id("w1", "a1", "where is x?")
    assert upper.group_id == lower.group_id == merged
    assert (upper.question, upper.rules_version) == ("where is x?", 1)
    assert upper.wording_id == missed_question_group_id("w1", "a1", "Where is X?")
    assert lower.wording_id == merged  # already folded: its wording id is the group's
    assert (upper.first_in_session, lower.first_in_session) == (True, False)
    summary = summarise([upper, lower])
    assert (summary.groups[merged].occurrences, summary.groups[merged].sessions) == (2, 1)
    assert summary.wordings == {(merged, upper.wording_id, "w1")}


def test_rules_that_keep_whitespace_keep_it_in_the_group():
    keep = RuleSet(missed_questions=MissedQuestionNormalisation(collapse_whitespace=False))
    spaced, single = occurrences(["Open  today?", "Open today?"], keep)
    assert spaced.group_id != single.group_id
    assert spaced.question == "Open  today?"
    assert spaced.wording_id == single.wording_id == single.group_id


def test_a_message_recorded_again_keeps_its_first_day_and_place():
    """The session refuses a second recording of a message id; if one came, the stored
    message lists, which later batches only append to, must still hold."""
    script = SessionScript("w1").start(agent_id="a1").say("first").say("second")
    state = None
    for event in script.events:
        state, _ = fold(state, event)
    again = script.events[1].model_copy(
        update={"occurred_at": script.events[1].occurred_at + timedelta(days=1), "version": 4}
    )

    after, changes = fold(state, again)

    first_day = script.events[1].occurred_at.date()
    assert after.customer_messages == state.customer_messages
    assert after.customer_messages[script.events[1].payload["message_id"]] == first_day
    assert [type(change) for change in changes] == [DayCount]
