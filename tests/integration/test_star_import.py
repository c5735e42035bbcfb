"""Importing the first STAR dialogues into a fresh ledger: the event store holds what the raw
file says (counted here with plain json, not with the mapping), and a re-import adds nothing."""

from __future__ import annotations

import gzip
import io
import json
from collections import Counter
from dataclasses import dataclass, field
from uuid import uuid4

import psycopg
import pytest

from api.commands import Caller, NewEvent, SessionCommands
from api.importers.demo import load_demo_data_if_empty
from api.importers.progress import Progress
from api.importers.run import import_star
from domain.envelope import Actor, ActorKind
from domain.events import SessionStarted
from infra.settings import Settings
from tests.helpers import needs_data
from tests.unit.test_star_mapping import STAR_FILE

LIMIT = 300
WORKSPACE = "star-demo"

pytestmark = needs_data(STAR_FILE, "the STAR data set")


@dataclass
class RawCounts:
    sessions: int = 0
    customer_messages: int = 0
    ai_messages: int = 0
    missed_questions: int = 0
    contacts: set[str] = field(default_factory=set)


def count_raw(limit: int) -> RawCounts:
    counts = RawCounts()
    with gzip.open(STAR_FILE, "rt", encoding="utf-8") as lines:
        for _, line in zip(range(limit), lines, strict=False):
            count_dialogue(json.loads(line), counts)
    return counts


def count_dialogue(dialogue: dict, counts: RawCounts) -> None:
    kinds = Counter((e["Agent"], e["Action"]) for e in dialogue["Events"])
    customer = kinds["User", "utter"]
    ai = kinds["Wizard", "utter"] + kinds["Wizard", "pick_suggestion"]
    if customer + ai == 0:
        return
    counts.sessions += 1
    counts.customer_messages += customer
    counts.ai_messages += ai
    counts.contacts.add(dialogue["AnonymizedUserWorkerID"])
    # A customer message is missed when an agent answer labelled out_of_scope follows it.
    missed, last_customer = set(), None
    for index, event in enumerate(dialogue["Events"]):
        if (event["Agent"], event["Action"]) == ("User", "utter"):
            last_customer = index
        elif event.get("ActionLabel") == "out_of_scope" and last_customer is not None:
            missed.add(last_customer)
    counts.missed_questions += len(missed)


def stored_counts(database_url: str) -> dict[str, int]:
    query = """
        WITH events AS (
            SELECT convert_from(state, 'UTF8')::jsonb AS doc FROM stored_events
        )
        SELECT
            count(DISTINCT doc->>'stream_id'),
            count(*) FILTER (WHERE doc#>>'{payload,author_role}' = 'customer'),
            count(*) FILTER (WHERE doc#>>'{payload,author_role}' = 'ai'),
            count(*) FILTER (WHERE doc->>'type' = 'session.question_missed'),
            count(DISTINCT doc#>>'{payload,contact,external_id}'),
            count(*) FILTER (WHERE doc->>'workspace_id' <> %s OR doc#>>'{actor,id}' <> %s),
            count(*)
        FROM events
    """
    names = ("sessions", "customer", "ai", "missed", "contacts", "foreign", "events")
    with psycopg.connect(database_url) as conn:
        row = conn.execute(query, (WORKSPACE, "star-import")).fetchone()
    return dict(zip(names, row, strict=True))


def run_import(store):
    return import_star(
        SessionCommands(store),
        STAR_FILE,
        workspace=WORKSPACE,
        limit=LIMIT,
        progress=Progress(LIMIT, stream=io.StringIO()),
    )


def test_import_matches_the_raw_file_and_a_second_run_adds_nothing(store, database_url):
    expected = count_raw(LIMIT)

    report = run_import(store)

    assert report.dialogues == LIMIT
    assert report.sessions_added == expected.sessions
    assert report.skipped == LIMIT - expected.sessions
    assert stored_counts(database_url) == {
        "sessions": expected.sessions,
        "customer": expected.customer_messages,
        "ai": expected.ai_messages,
        "missed": expected.missed_questions,
        "contacts": len(expected.contacts),
        "foreign": 0,
        "events": report.events_added,
    }
    assert expected.missed_questions > 0  # the sample really exercises out_of_scope

    position = store.max_position()
    again = run_import(store)

    assert (again.sessions_added, again.events_added) == (0, 0)
    assert again.sessions_present == expected.sessions
    assert store.max_position() == position


@pytest.fixture
def small_star_file(tmp_path):
    path = tmp_path / "star_first_20.jsonl.gz"
    with gzip.open(STAR_FILE, "rb") as source, gzip.open(path, "wb") as target:
        target.writelines(line for _, line in zip(range(20), source, strict=False))
    return path


def demo_settings(database_url: str, demo_data: str) -> Settings:
    return Settings(database_url=database_url, workspace=WORKSPACE, demo_data=demo_data)


def test_demo_data_loads_once_into_an_empty_workspace(store, database_url, small_star_file):
    settings = demo_settings(database_url, str(small_star_file))

    first = load_demo_data_if_empty(settings, database_url)
    second = load_demo_data_if_empty(settings, database_url)

    assert first is not None and first.sessions_added == count_raw(20).sessions
    assert second is None


def test_demo_data_stays_out_of_a_workspace_with_sessions(store, database_url, small_star_file):
    caller = Caller(workspace_id=WORKSPACE, actor=Actor(kind=ActorKind.api_key, id="k1"))
    started = NewEvent(SessionStarted(agent_id="concierge", channel="web"))
    SessionCommands(store).append(uuid4(), [started], caller)

    assert (
        load_demo_data_if_empty(demo_settings(database_url, str(small_star_file)), database_url)
        is None
    )
    assert store.max_position() == 1


@pytest.mark.parametrize("setting", ["", "none", "None", "/nowhere/star.jsonl.gz"])
def test_demo_data_disabled_or_missing_is_skipped(database_url, setting, capsys):
    assert load_demo_data_if_empty(demo_settings(database_url, setting), database_url) is None
    assert ("not found" in capsys.readouterr().out) == setting.startswith("/")
