"""missed_questions on PostgreSQL: groups, date ranges, status, daily share, per-session runs.

Every expectation is counted by hand from the scripts below.
"""

from __future__ import annotations

import itertools
from datetime import UTC, date, datetime

import pytest

from api.read_models import MissedQuestionQueries, MissedQuestionSort
from domain.identity import missed_question_group_id
from tests.builders import SessionScript
from tests.review_builders import global_order, review_engine, status_changes

DAY1, DAY2, DAY3 = (datetime(2026, 3, d, 9, 0, tzinfo=UTC) for d in (2, 3, 5))
DELIVER = "Do you deliver?"


def miss(script: SessionScript, question: str) -> SessionScript:
    return script.record(
        "session.question_missed",
        message_id=script.last_message_id(),
        question=question,
        source="api",
    )


@pytest.fixture
def world(database_url, store):
    positions = itertools.count(1)

    def script(at, workspace="w1", agent="agent-1") -> SessionScript:
        return SessionScript(workspace, at=at, positions=positions).start(agent_id=agent)

    a = script(DAY1).say("Do you deliver?")
    miss(a, "Do you  deliver?\n").reply("Let me check").say("What about  Sundays?")
    miss(a, "What about Sundays?").say("hello")
    miss(a, DELIVER).say("ok")  # a: 4 customer messages, 3 missed in a row
    b = script(DAY2).say("Do you deliver?")
    miss(b, DELIVER).say("thanks").say("so?")
    miss(b, DELIVER)  # b: missed, answered, missed
    c = script(DAY3).say("do you deliver?")
    miss(c, "do you deliver?")  # case is kept: another group
    d = script(DAY1, agent="agent-2").say("Do you deliver?")
    miss(d, DELIVER)  # another agent: another group
    e = script(DAY1, workspace="w2").say("Do you deliver?")
    miss(e, DELIVER)  # another workspace
    engine = review_engine(database_url, store)
    group = missed_question_group_id("w1", "agent-1", DELIVER)
    resolved = status_changes(
        group, "w1", [("resolved", "added to the FAQ", DAY3)], positions=positions
    )
    engine.apply_batch(global_order(*(s.events for s in (a, b, c, d, e)), resolved))
    return engine, MissedQuestionQueries(engine.pool), {"a": a, "b": b, "group": group}


def test_groups_count_occurrences_sessions_and_status(world):
    _engine, queries, ids = world
    page = queries.page("w1", agent="agent-1")
    by_question = {g.question: g for g in page.items}
    deliver = by_question[DELIVER]
    assert deliver.group_id == ids["group"]
    assert (deliver.occurrences, deliver.sessions, deliver.status) == (4, 2, "resolved")
    assert deliver.first_seen.date() == date(2026, 3, 2)
    assert deliver.last_seen.date() == date(2026, 3, 3)
    assert by_question["What about Sundays?"].occurrences == 1
    assert by_question["do you deliver?"].status == "unresolved"
    assert page.items[0].question == DELIVER  # most occurrences first
    assert {g.agent_id for g in queries.page("w1").items} == {"agent-1", "agent-2"}
    assert len(queries.page("w2").items) == 1


def test_occurrences_in_a_date_range(world):
    _engine, queries, _ids = world
    page = queries.page("w1", agent="agent-1", day_from=date(2026, 3, 3), day_to=date(2026, 3, 5))
    counted = {g.question: (g.occurrences_in_range, g.occurrences) for g in page.items}
    # "What about Sundays?" was only missed on the 2nd: not in the range at all
    assert counted == {DELIVER: (2, 4), "do you deliver?": (1, 1)}
    only_third = queries.page("w1", day_from=date(2026, 3, 5), day_to=date(2026, 3, 5))
    assert [(g.question, g.occurrences_in_range) for g in only_third.items] == [
        ("do you deliver?", 1)
    ]


def test_status_filter_sorting_and_pages(world):
    _engine, queries, _ids = world
    assert [g.question for g in queries.page("w1", status="resolved").items] == [DELIVER]
    unresolved = queries.page("w1", status="unresolved", sort=MissedQuestionSort.last_seen)
    assert unresolved.items[0].question == "do you deliver?"  # the 5th
    first = queries.page("w1", limit=2)
    second = queries.page("w1", limit=2, cursor=first.next_cursor)
    seen = [g.group_id for g in first.items + second.items]
    assert len(seen) == len(set(seen)) == 4 and second.next_cursor is None


def test_detail_lists_days_and_occurrences(world):
    _engine, queries, ids = world
    detail = queries.detail("w1", ids["group"], limit=10)
    assert detail.status_reason == "added to the FAQ"
    assert [(d.day, d.occurrences, d.sessions) for d in detail.days] == [
        (date(2026, 3, 2), 2, 1),
        (date(2026, 3, 3), 2, 1),
    ]
    assert {o.session_id for o in detail.occurrences} == {ids["a"].id, ids["b"].id}
    assert "Do you  deliver?\n" in {o.question for o in detail.occurrences}  # as reported
    with pytest.raises(Exception, match="not found"):
        queries.detail("w2", ids["group"], limit=10)


def test_daily_share_and_runs_per_session(world):
    engine, queries, ids = world
    share = {
        (d.agent_id, d.day): (d.customer_messages, d.missed) for d in queries.share("w1").items
    }
    assert share == {
        ("agent-1", date(2026, 3, 2)): (4, 3),
        ("agent-1", date(2026, 3, 3)): (3, 2),
        ("agent-1", date(2026, 3, 5)): (1, 1),
        ("agent-2", date(2026, 3, 2)): (1, 1),
    }
    with engine.pool.connection() as conn:
        runs = dict(
            (row[0], row[1:])
            for row in conn.execute(
                "SELECT session_id, missed_count, longest_run FROM missed_question_sessions"
            )
        )
    assert runs[ids["a"].id] == (3, 3)
    assert runs[ids["b"].id] == (2, 1)
