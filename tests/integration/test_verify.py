"""Tamper evidence: edits and deletions made behind the ledger's back are reported."""

from __future__ import annotations

import uuid

import orjson
import psycopg

from api.commands import Caller, NewEvent, SessionCommands
from domain.envelope import SYSTEM_ACTOR, seal
from domain.events import MessageRecorded, SessionStarted
from infra.event_store import EventStore
from infra.verification import ChainCheckpointer, verify_ledger

CALLER = Caller(workspace_id="w1", actor=SYSTEM_ACTOR)


def conversation(store: EventStore, messages: int = 3) -> uuid.UUID:
    commands = SessionCommands(store)
    session_id = uuid.uuid4()
    commands.start(session_id, NewEvent(SessionStarted(agent_id="a", channel="web")), CALLER)
    commands.append(
        session_id,
        [
            NewEvent(MessageRecorded(message_id=f"m{i}", author_role="customer", text=f"t{i}"))
            for i in range(messages)
        ],
        CALLER,
    )
    return session_id


def sql(store: EventStore, query: str, params: tuple = ()) -> None:
    with psycopg.connect(store.url, autocommit=True) as conn:
        conn.execute(query, params)


def stored_document(store: EventStore, session_id: uuid.UUID, version: int) -> dict:
    with psycopg.connect(store.url) as conn:
        (state,) = conn.execute(
            "SELECT state FROM stored_events WHERE originator_id=%s AND originator_version=%s",
            (session_id, version),
        ).fetchone()
    return orjson.loads(state)


def rewrite(store: EventStore, session_id: uuid.UUID, version: int, document: dict) -> None:
    sql(
        store,
        "UPDATE stored_events SET state=%s WHERE originator_id=%s AND originator_version=%s",
        (orjson.dumps(document), session_id, version),
    )


def breaches(store: EventStore, session_id: uuid.UUID | None = None):
    return [
        (b.stream_id, b.version) for b in verify_ledger(store.url, stream_id=session_id).breaches
    ]


def test_an_untouched_ledger_verifies(store):
    conversation(store)
    conversation(store)
    report = verify_ledger(store.url)
    assert report.ok and report.streams == 2 and report.events == 8


def test_an_edited_event_is_reported_with_its_version(store):
    session_id = conversation(store)
    untouched = conversation(store)
    document = stored_document(store, session_id, 3)
    document["payload"]["text"] = "I never said that"
    rewrite(store, session_id, 3, document)
    assert breaches(store) == [(str(session_id), 3)]
    assert breaches(store, untouched) == []


def test_an_edit_with_a_recomputed_hash_breaks_the_next_link(store):
    session_id = conversation(store)
    document = stored_document(store, session_id, 2)
    document["payload"]["text"] = "forged"
    rewrite(store, session_id, 2, seal(document))
    assert breaches(store) == [(str(session_id), 3)]


def test_a_deleted_middle_event_is_reported(store):
    session_id = conversation(store)
    sql(
        store,
        "DELETE FROM stored_events WHERE originator_id=%s AND originator_version=2",
        (session_id,),
    )
    assert breaches(store) == [(str(session_id), 2)]


def test_a_deleted_newest_event_is_reported_through_the_recorded_head(store):
    session_id = conversation(store)
    sql(
        store,
        "DELETE FROM stored_events WHERE originator_id=%s AND originator_version=4",
        (session_id,),
    )
    assert breaches(store) == [(str(session_id), 4)]


def test_a_stream_deleted_whole_is_reported(store):
    session_id = conversation(store)
    sql(store, "DELETE FROM stored_events WHERE originator_id=%s", (session_id,))
    assert breaches(store) == [(str(session_id), 1)]


def test_a_consistent_rewrite_of_the_newest_event_is_caught_by_the_global_chain(store):
    """An attacker who re-seals the newest event and its head: only the checkpoint knows."""
    session_id = conversation(store)
    checkpointer = ChainCheckpointer(store.url, every_events=1)
    checkpointer.advance(store.read_raw_log(0, 100))
    document = stored_document(store, session_id, 4)
    document["payload"]["text"] = "forged"
    forged = seal(document)
    rewrite(store, session_id, 4, forged)
    sql(store, "UPDATE stream_heads SET hash=%s WHERE stream_id=%s", (forged["hash"], session_id))
    report = verify_ledger(store.url)
    assert [b.stream_id for b in report.breaches] == [None]
    assert "global chain" in report.breaches[0].reason
    # Verifying that one session checks the global chain too: its stream alone looks intact.
    assert breaches(store, session_id) == [(None, None)]


def relay_recorded(store: EventStore, checkpointer: ChainCheckpointer) -> None:
    """The chain head as the relay writes it with its position (``Relay._store_position``)."""
    sql(
        store,
        "INSERT INTO relay_position (relay, position, chain_position, chain_hash, chain_events)"
        " VALUES ('r', %s, %s, %s, %s)",
        (checkpointer.head()[0], *checkpointer.head()),
    )


def test_deleting_the_checkpoints_does_not_hide_a_rewrite_the_relay_attested(store):
    session_id = conversation(store)
    checkpointer = ChainCheckpointer(store.url, every_events=1_000)  # none saved yet
    checkpointer.advance(store.read_raw_log(0, 100))
    relay_recorded(store, checkpointer)
    checkpointer.save()
    document = stored_document(store, session_id, 4)
    document["payload"]["text"] = "forged"
    forged = seal(document)
    rewrite(store, session_id, 4, forged)
    sql(store, "UPDATE stream_heads SET hash=%s WHERE stream_id=%s", (forged["hash"], session_id))
    sql(store, "DELETE FROM ledger_chain_checkpoints")
    assert breaches(store) == [(None, None)]


def test_the_report_says_how_far_the_global_chain_is_attested(store):
    conversation(store)
    checkpointer = ChainCheckpointer(store.url, every_events=1)
    checkpointer.advance(store.read_raw_log(0, 2))
    conversation(store)
    report = verify_ledger(store.url)
    assert report.ok
    assert (report.chain_attested_through, report.head) == (2, 8)


def test_a_breach_is_not_placed_in_the_workspace_a_tampered_event_names(store):
    """Moving a forged stream's first event to another workspace must not hide the breach
    from the workspace it belongs to: a breached event attests nothing."""
    session_id = conversation(store)
    document = stored_document(store, session_id, 1)
    document["workspace_id"] = "elsewhere"
    rewrite(store, session_id, 1, document)
    report = verify_ledger(store.url, stream_id=session_id)
    assert [(b.version, b.workspace_id) for b in report.breaches] == [(1, None)]
    assert report.workspace_id is None


def test_an_intact_stream_reports_its_workspace(store):
    session_id = conversation(store)
    assert verify_ledger(store.url, stream_id=session_id).workspace_id == "w1"
