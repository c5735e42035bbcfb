"""Blue/green rebuilds of missed_questions, leads and audit_trail against a real PostgreSQL:
a rebuild gives the very tables streaming built (also while the stream processor keeps
applying: leads is fed in log order, from a cursor of each generation's own), a leads rebuild
under rules that stop merging on phone splits the leads merged only by phone and the API
serves the split after the switch, and dropping a generation drops every table it had."""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta

import psycopg
import pytest

from api.read_models import AuditQueries, LeadQueries, MissedQuestionQueries
from domain.identity import lead_id_for_session, missed_question_group_id
from domain.rules import LeadIdentifier, RuleSet
from projections.generations import REBUILDABLE, Generations, UnknownReadModel, rebuildable
from projections.rebuild import Rebuild
from projections.registry import apply_read_model_schema
from tests.builders import REVIEWER, SessionScript
from tests.integration.test_rebuild import WORKSPACE, Ledger
from tests.review_builders import status_changes

REVIEW_MODELS = ("missed_questions", "leads", "audit_trail")
T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
UK_PHONE = "+44 20 7946 0000"


@pytest.fixture
def ledger(database_url):
    opened = Ledger(database_url)
    yield opened
    opened.close()


def conversation(ledger: Ledger, day: int, **contact) -> SessionScript:
    """A session with a missed question, a reviewer's flag and the contact it learnt late."""
    script = SessionScript(WORKSPACE, at=T0 + timedelta(days=day), positions=itertools.count(1))
    script.start(contact={"phone": contact.pop("phone", None)}).say("Do you  deliver?")
    script.record(
        "session.question_missed",
        message_id=script.last_message_id(),
        question="Do you deliver?",
        source="api",
    )
    script.record("session.flag_set", REVIEWER, flag="is_todo", value=True, reason="call back")
    if contact:
        script.record("session.contact_identified", contact=contact)
    ledger.store.append(script.events)
    return script


def resolve_the_question(ledger: Ledger) -> None:
    group = missed_question_group_id(WORKSPACE, "agent-1", "Do you deliver?")
    resolved = [("resolved", "in the FAQ now", T0 + timedelta(days=9))]
    ledger.store.append(status_changes(group, WORKSPACE, resolved, positions=itertools.count(1)))


def rows(url: str, table: str) -> list[tuple]:
    """Every row, in a fixed order: none of these tables has a generation-specific column."""
    with psycopg.connect(url) as conn:
        width = len(conn.execute(f'SELECT * FROM "{table}" LIMIT 0').description)
        order = ", ".join(str(column) for column in range(1, width + 1))
        return conn.execute(f'SELECT * FROM "{table}" ORDER BY {order}').fetchall()


# Rows only where rules merge wordings (case folding): under these tests' rules, none.
EMPTY_UNDER_DEFAULT_RULES = {"missed_question_wordings"}


def assert_same_tables(ledger: Ledger, tables: dict[str, str]) -> None:
    for live, rebuilt in tables.items():
        expected = rows(ledger.url, live)
        assert expected or live in EMPTY_UNDER_DEFAULT_RULES, f"{live} is empty: nothing compared"
        assert rows(ledger.url, rebuilt) == expected, rebuilt


@pytest.mark.parametrize("partitions", [1, 2])
@pytest.mark.parametrize("name", REVIEW_MODELS)
def test_a_rebuild_gives_the_tables_streaming_built(ledger, name, partitions):
    for day in range(4):
        conversation(ledger, day, phone=UK_PHONE if day % 2 else None, email=f"c{day}@x.io")
    conversation(ledger, 5, email="c0@x.io")  # joins the first lead by e-mail
    resolve_the_question(ledger)
    ledger.stream()

    rebuild = Rebuild(ledger.pool, ledger.store, batch_size=5, partitions=partitions)
    shadow = rebuild.run(rebuild.start(name, None))

    assert shadow.status == "shadow"
    assert set(shadow.tables) == set(REBUILDABLE[name].tables)
    assert_same_tables(ledger, shadow.tables)


@contextmanager
def arriving_and_streamed(ledger: Ledger) -> Iterator[None]:
    """While the body runs, a thread keeps ingesting sessions and streaming them in small
    batches, as clients and the stream processor would."""
    done = threading.Event()

    def ingest_and_stream() -> None:
        days = itertools.count(10)
        while not done.is_set():
            day = next(days)
            conversation(ledger, day, phone=f"+1 202 555 {day % 7:04d}", email=f"c{day}@x.io")
            ledger.stream(batch=3)

    thread = threading.Thread(target=ingest_and_stream)
    thread.start()
    try:
        yield
    finally:
        done.set()
        thread.join()


@pytest.mark.parametrize("partitions", [1, 2])
@pytest.mark.parametrize("name", REVIEW_MODELS)
def test_a_rebuild_beside_a_running_stream_processor_loses_and_repeats_nothing(
    ledger, name, partitions
):
    for day in range(10):
        conversation(ledger, day, phone=UK_PHONE, email=f"c{day % 3}@x.io")
    resolve_the_question(ledger)
    ledger.stream()
    with arriving_and_streamed(ledger):
        rebuild = Rebuild(
            ledger.pool, ledger.store, batch_size=10, catch_up_distance=5, partitions=partitions
        )
        shadow = rebuild.run(rebuild.start(name, None))
        time.sleep(0.5)  # events after the catch-up now reach the shadow through the stream
    ledger.stream()
    assert shadow.status == "shadow"
    assert ledger.store.max_position() > shadow.position
    assert_same_tables(ledger, shadow.tables)


def test_leads_rebuilt_under_rules_that_stop_merging_on_phone_split_and_are_served(ledger):
    by_phone = conversation(ledger, 0, phone=UK_PHONE)
    by_both = conversation(ledger, 1, phone=UK_PHONE, email="ada@x.io")
    by_email = conversation(ledger, 2, email="ada@x.io")
    national = conversation(ledger, 3, phone="020 7946 0000")  # no country: no identifier
    ledger.stream()
    queries = LeadQueries(ledger.pool)
    lead = lead_id_for_session(by_phone.id)
    merged = queries.detail(WORKSPACE, lead)
    assert {s.session_id for s in merged.session_list} == {by_phone.id, by_both.id, by_email.id}
    assert [(m.identifier_kind, m.rules_version) for m in merged.merges] == [
        ("phone", 0),
        ("email", 0),
    ]

    no_phone = ledger.publish(
        RuleSet(lead_merge_identifiers={LeadIdentifier.email, LeadIdentifier.external_id})
    )
    rebuild = Rebuild(ledger.pool, ledger.store, batch_size=4)
    split = rebuild.run(rebuild.start("leads", {WORKSPACE: no_phone}), switch=True)

    assert split.status == "live" and split.tables["leads"] == "leads__g2"
    assert queries.detail(WORKSPACE, lead).session_list[0].session_id == by_phone.id
    assert len(queries.detail(WORKSPACE, lead).session_list) == 1
    survivor = queries.detail(WORKSPACE, lead_id_for_session(by_email.id))
    assert survivor.lead_id == lead_id_for_session(by_both.id)
    assert {s.session_id for s in survivor.session_list} == {by_both.id, by_email.id}
    assert [(m.identifier_kind, m.rules_version) for m in survivor.merges] == [("email", no_phone)]
    assert {i.kind for i in survivor.identifiers} == {"email"}
    assert len(queries.page(WORKSPACE).items) == 3

    # Fed by the stream processor from the switch on, under the new generation's rules.
    late = conversation(ledger, 4, phone=UK_PHONE)
    ledger.stream()
    assert queries.detail(WORKSPACE, lead_id_for_session(late.id)).sessions == 1

    # Phone merges again, with national numbers read in the UK: everyone is one lead.
    uk = ledger.publish(RuleSet(default_country_code="44"))
    rebuild.run(rebuild.start("leads", {WORKSPACE: uk}), switch=True)
    everyone = queries.detail(WORKSPACE, lead_id_for_session(national.id))
    assert everyone.lead_id == lead
    assert everyone.sessions == 5
    assert {m.rules_version for m in everyone.merges} == {uk}


def test_the_api_reads_the_live_generation_of_each_review_model(ledger):
    conversation(ledger, 0, email="ada@x.io")
    resolve_the_question(ledger)
    ledger.stream()
    rebuild = Rebuild(ledger.pool, ledger.store)
    for name in REVIEW_MODELS:
        rebuild.run(rebuild.start(name, None), switch=True)
    with psycopg.connect(ledger.url, autocommit=True) as conn:
        for table in ("missed_question_groups", "missed_question_status", "audit_trail"):
            conn.execute(f"TRUNCATE {table}")  # the retired tables: no longer read
    (group,) = MissedQuestionQueries(ledger.pool).page(WORKSPACE).items
    assert (group.occurrences, group.status) == (1, "resolved")
    assert [e.field for e in AuditQueries(ledger.pool).page(WORKSPACE).items] == [
        "status",
        "flags.is_todo",
    ]


@pytest.mark.parametrize("name", REVIEW_MODELS)
def test_dropping_a_generation_drops_all_its_tables_and_bookkeeping(ledger, name):
    conversation(ledger, 0, phone=UK_PHONE)
    ledger.stream()
    generations = Generations(ledger.pool)
    rebuild = Rebuild(ledger.pool, ledger.store)
    shadow = rebuild.run(rebuild.start(name, None))
    generations.cancel(name, shadow.generation)

    dropped = generations.drop(name, shadow.generation)

    assert dropped.status == "dropped"
    with psycopg.connect(ledger.url) as conn:
        for table in shadow.tables.values():
            assert conn.execute("SELECT to_regclass(%s)", (table,)).fetchone() == (None,)
        for table in REBUILDABLE[name].tables:  # the live generation's are untouched
            assert conn.execute("SELECT to_regclass(%s)", (table,)).fetchone() != (None,)
        for bookkeeping in ("projection_streams", "projection_status"):
            left = conn.execute(
                f"SELECT count(*) FROM {bookkeeping} WHERE projection = %s", (shadow.key,)
            ).fetchone()
            assert left == (0,)


@pytest.mark.parametrize("name", [*REVIEW_MODELS, "session_list"])
def test_original_tables_dropped_after_a_switch_are_not_created_again(ledger, name):
    """Every process start and CLI command applies the read models' schema: once generation
    1 was switched out and dropped, its tables stay gone, and the others' stay."""
    conversation(ledger, 0, phone=UK_PHONE)
    ledger.stream()
    rebuild = Rebuild(ledger.pool, ledger.store)
    rebuild.run(rebuild.start(name, None), switch=True)
    Generations(ledger.pool).drop(name, 1)

    apply_read_model_schema(ledger.url)

    with psycopg.connect(ledger.url) as conn:
        for spec in REBUILDABLE.values():
            for table in spec.tables:
                exists = conn.execute("SELECT to_regclass(%s)", (table,)).fetchone() != (None,)
                assert exists == (spec.name != name), table


def test_each_table_resolves_to_the_read_model_it_is_rebuilt_with():
    assert rebuildable("lead_members").name == "leads"
    assert rebuildable("missed_question_daily").name == "missed_questions"
    assert rebuildable("asr_metrics").name == "session_list"
    with pytest.raises(UnknownReadModel):
        rebuildable("parked_events")
