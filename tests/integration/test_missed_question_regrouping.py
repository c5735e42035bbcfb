"""missed_questions rebuilt under rules that case-fold wordings, on a real PostgreSQL: the shadow
merges "Where is X?" and "where is  x?" into one group that keeps the status a reviewer set on
either of the old groups (the newest wins), the live generation is untouched until the switch,
and after it the API serves the merged group, also by an old group's id; what the stream
processor then builds under those rules is what a rebuild under them gives."""

from __future__ import annotations

import itertools
from datetime import timedelta
from types import SimpleNamespace
from uuid import UUID

import psycopg
import pytest
from fastapi import Response

from api.commands import Caller, StreamCommands
from api.read_models import MissedQuestionQueries
from api.routes.review import set_missed_question_status
from api.schemas import SetMissedQuestionStatusRequest
from domain.identity import missed_question_group_id, normalised_question_group_id
from domain.rules import MissedQuestionNormalisation, RuleSet
from projections.generations import Generations
from projections.rebuild import Rebuild
from tests.builders import REVIEWER, SessionScript
from tests.integration.test_rebuild import WORKSPACE, Ledger
from tests.integration.test_rebuild_review_models import T0, rows

AGENT = "agent-1"
UPPER, LOWER = "Where is X?", "where is  x?"
UPPER_ID = missed_question_group_id(WORKSPACE, AGENT, UPPER)
LOWER_ID = missed_question_group_id(WORKSPACE, AGENT, LOWER)
MERGED_ID = normalised_question_group_id(WORKSPACE, AGENT, "where is x?")
CASE_FOLD = RuleSet(missed_questions=MissedQuestionNormalisation(case_fold=True))


@pytest.fixture
def ledger(database_url):
    opened = Ledger(database_url)
    yield opened
    opened.close()


def missed(ledger: Ledger, day: int, question: str) -> None:
    script = SessionScript(WORKSPACE, at=T0 + timedelta(days=day), positions=itertools.count(1))
    script.start(agent_id=AGENT).say(question)
    script.record(
        "session.question_missed",
        message_id=script.last_message_id(),
        question=question,
        source="api",
    )
    ledger.store.append(script.events)


def set_status(ledger: Ledger, group_id: UUID, status: str, reason: str) -> None:
    """Through the review route, as a reviewer's request runs it (the role check aside)."""
    api = SimpleNamespace(pool=ledger.pool, streams=StreamCommands(ledger.store))
    body = SetMissedQuestionStatusRequest(status=status, reason=reason)
    who = Caller(workspace_id=WORKSPACE, actor=REVIEWER)
    set_missed_question_status(group_id, body, Response(), api, who)


def statuses(queries: MissedQuestionQueries) -> dict[str, tuple[UUID, int, int, str]]:
    return {
        g.question: (g.group_id, g.occurrences, g.sessions, g.status)
        for g in queries.page(WORKSPACE).items
    }


def rules_versions(ledger: Ledger, table: str) -> set[int]:
    with psycopg.connect(ledger.url) as conn:
        return {row[0] for row in conn.execute(f'SELECT rules_version FROM "{table}"')}


def test_case_folding_rules_merge_groups_and_keep_their_statuses(ledger):
    missed(ledger, 0, UPPER)
    missed(ledger, 1, LOWER)
    missed(ledger, 2, UPPER)
    ledger.stream()
    set_status(ledger, LOWER_ID, "ignored", "small talk")
    set_status(ledger, UPPER_ID, "resolved", "in the FAQ now")  # newer: it wins the merge
    ledger.stream()
    live = MissedQuestionQueries(ledger.pool)
    before = {
        UPPER: (UPPER_ID, 2, 2, "resolved"),
        "where is x?": (LOWER_ID, 1, 1, "ignored"),
    }
    assert statuses(live) == before

    v1 = ledger.publish(CASE_FOLD)
    rebuild = Rebuild(ledger.pool, ledger.store, batch_size=3)
    shadow = rebuild.run(rebuild.start("missed_questions", {WORKSPACE: v1}))

    assert shadow.status == "shadow"
    in_shadow = MissedQuestionQueries(ledger.pool, tables=shadow.tables)
    assert statuses(in_shadow) == {"where is x?": (MERGED_ID, 3, 3, "resolved")}
    assert in_shadow.detail(WORKSPACE, MERGED_ID, limit=10).status_reason == "in the FAQ now"
    assert rules_versions(ledger, shadow.tables["missed_question_groups"]) == {v1}
    assert statuses(live) == before  # nothing changes before the switch
    assert rules_versions(ledger, "missed_question_groups") == {0}

    Generations(ledger.pool).switch("missed_questions", shadow.generation)
    assert statuses(live) == {"where is x?": (MERGED_ID, 3, 3, "resolved")}
    old_link = live.detail(WORKSPACE, UPPER_ID, limit=10)
    assert old_link.group.group_id == MERGED_ID and len(old_link.occurrences) == 3
    assert live.is_listed(WORKSPACE, UPPER_ID) and live.is_listed(WORKSPACE, MERGED_ID)
    assert not live.is_listed("w2", MERGED_ID)

    # A status set on an old group's id after the merge is the merged group's newest.
    set_status(ledger, UPPER_ID, "unresolved", "customers still ask")
    missed(ledger, 3, "WHERE is X?")  # fed under the live generation's case-folding rules
    ledger.stream()
    assert statuses(live) == {"where is x?": (MERGED_ID, 4, 4, "unresolved")}
    assert_a_rebuild_gives_the_same(ledger, live_tables=shadow.tables)


def assert_a_rebuild_gives_the_same(ledger: Ledger, live_tables: dict[str, str]) -> None:
    """Streamed (the live generation) and rebuilt under the same rules: the same tables."""
    rebuild = Rebuild(ledger.pool, ledger.store, batch_size=2)
    again = rebuild.run(rebuild.start("missed_questions", None))
    for table, streamed in live_tables.items():
        expected = rows(ledger.url, streamed)
        assert expected, f"{streamed} is empty: nothing compared"
        assert rows(ledger.url, again.tables[table]) == expected, table


def test_default_rules_keep_group_ids_and_need_no_wordings(ledger):
    missed(ledger, 0, "Where  is X?\n")
    ledger.stream()
    set_status(ledger, UPPER_ID, "resolved", "in the FAQ now")
    ledger.stream()
    rebuild = Rebuild(ledger.pool, ledger.store)
    rebuilt = rebuild.run(rebuild.start("missed_questions", None), switch=True)

    assert statuses(MissedQuestionQueries(ledger.pool)) == {UPPER: (UPPER_ID, 1, 1, "resolved")}
    with psycopg.connect(ledger.url) as conn:
        for table in ("missed_question_wordings", rebuilt.tables["missed_question_wordings"]):
            assert conn.execute(f'SELECT count(*) FROM "{table}"').fetchone() == (0,)
