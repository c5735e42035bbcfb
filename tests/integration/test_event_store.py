"""The command side against real PostgreSQL: optimistic concurrency, idempotency, heads."""

from __future__ import annotations

import itertools
import threading
import time
import uuid
from datetime import UTC, datetime

import psycopg
import pytest

from api.commands import Caller, NewEvent, SessionCommands
from domain.envelope import SYSTEM_ACTOR, Envelope, compute_hash, decode_document, seal
from domain.errors import VersionConflict
from domain.events import MessageRecorded, SessionClosed, SessionStarted
from domain.session import EventContext, Session
from infra.event_store import EventStore, read_log_statement

CALLER = Caller(workspace_id="w1", actor=SYSTEM_ACTOR)


def started(commands: SessionCommands) -> uuid.UUID:
    session_id = uuid.uuid4()
    commands.start(session_id, NewEvent(SessionStarted(agent_id="a", channel="web")), CALLER)
    return session_id


def said(text: str, event_id: uuid.UUID | None = None) -> NewEvent:
    return NewEvent(
        MessageRecorded(message_id=uuid.uuid4().hex, author_role="customer", text=text), event_id
    )


def race(*calls):
    """Run calls at the same moment; return each one's result or exception."""
    barrier = threading.Barrier(len(calls))
    results: list = [None] * len(calls)

    def run(index, call):
        barrier.wait()
        try:
            results[index] = call()
        except Exception as error:
            results[index] = error

    threads = [threading.Thread(target=run, args=(i, c)) for i, c in enumerate(calls)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


def test_two_writers_with_the_same_expected_version_one_wins_one_conflicts(store):
    commands = SessionCommands(store)
    for _ in range(10):
        session_id = started(commands)
        results = race(
            *[
                lambda sid=session_id, text=text: commands.append(
                    sid, [said(text)], CALLER, expected_version=1
                )
                for text in "AB"
            ]
        )
        conflicts = [r for r in results if isinstance(r, VersionConflict)]
        assert len(conflicts) == 1, results
        assert len(store.read_stream(session_id)) == 2


def test_writers_without_expected_version_all_land_in_order(store):
    commands = SessionCommands(store, max_retries=20)
    session_id = started(commands)
    results = race(
        *[lambda i=i: commands.append(session_id, [said(f"m{i}")], CALLER) for i in range(6)]
    )
    assert not [r for r in results if isinstance(r, Exception)], results
    history = store.read_stream(session_id)
    assert [e.version for e in history] == list(range(1, 8))
    assert all(b.prev_hash == a.hash for a, b in itertools.pairwise(history))


def test_a_retried_event_id_racing_itself_is_stored_once(store):
    commands = SessionCommands(store, max_retries=20)
    session_id = started(commands)
    event_id = uuid.uuid4()
    item = said("once", event_id)
    results = race(*[lambda: commands.append(session_id, [item], CALLER) for _ in range(4)])
    assert not [r for r in results if isinstance(r, Exception)], results
    assert {r.events[0].event_id for r in results} == {event_id}
    assert sum(not r.duplicate for r in results) == 1
    assert len(store.read_stream(session_id)) == 2


def two_said(store: EventStore):
    """A started session with two messages appended: its id and the append's result."""
    commands = SessionCommands(store)
    session_id = started(commands)
    return session_id, commands.append(session_id, [said("x"), said("y")], CALLER)


def rows_of(store: EventStore, query: str, *params) -> list[dict]:
    with store.datastore.get_connection() as conn:
        return conn.execute(query, params).fetchall()


def test_each_append_records_the_stream_head(store):
    session_id, result = two_said(store)
    query = "SELECT version, hash FROM stream_heads WHERE stream_id = %s"
    [head] = rows_of(store, query, session_id)
    assert (head["version"], head["hash"]) == (3, result.events[-1].hash)


@pytest.mark.parametrize("as_of_version", [1, 2, 3])
def test_read_stream_up_to_a_version(store, as_of_version):
    commands = SessionCommands(store)
    session_id = started(commands)
    commands.append(session_id, [said("x"), said("y")], CALLER)
    events = store.read_stream(session_id, to_version=as_of_version)
    assert [e.version for e in events] == list(range(1, as_of_version + 1))
    assert [e.position for e in events] == sorted(e.position for e in events)


# --- appends decided on the cached aggregate, with the commit as the only check --------------


def test_a_retry_decided_on_the_cached_aggregate_returns_the_stored_events(store):
    commands = SessionCommands(store)
    session_id = started(commands)
    items = [said("a", uuid.uuid4()), said("b", uuid.uuid4())]
    first = commands.append(session_id, items, CALLER)
    retried = commands.append(session_id, items, CALLER)
    assert retried.duplicate and not first.duplicate
    assert [e.hash for e in retried.events] == [e.hash for e in first.events]
    assert [e.position for e in retried.events] == [e.position for e in first.events]
    assert len(store.read_stream(session_id)) == 3


def test_a_retry_the_rules_would_now_refuse_is_still_a_duplicate(store):
    commands = SessionCommands(store)
    session_id = started(commands)
    item = said("before the close", uuid.uuid4())
    commands.append(session_id, [item], CALLER)
    commands.append(session_id, [NewEvent(SessionClosed())], CALLER)
    assert commands.append(session_id, [item], CALLER).duplicate


def test_a_retried_start_in_another_process_is_a_duplicate(store):
    event_id = uuid.uuid4()
    start = NewEvent(SessionStarted(agent_id="a", channel="web"), event_id)
    session_id = uuid.uuid4()
    first = SessionCommands(store).start(session_id, start, CALLER)
    retried = SessionCommands(store).start(session_id, start, CALLER)
    assert retried.duplicate and retried.events[0].hash == first.events[0].hash


def test_a_cache_behind_another_process_never_decides_what_is_stored(store):
    """Two processes (two caches) on one session: each commit is checked against the stored
    head, so a stale cache is caught up, never used to store or refuse."""
    here, elsewhere = SessionCommands(store), SessionCommands(store)
    session_id = started(here)
    here.append(session_id, [said("here")], CALLER)  # cached here at version 2
    elsewhere.append(session_id, [said("elsewhere")], CALLER)  # now at 3
    assert here.append(session_id, [said("blind")], CALLER).version == 4
    elsewhere.append(session_id, [said("again")], CALLER)  # 5; here's cache says 4
    with pytest.raises(VersionConflict):
        here.append(session_id, [said("pinned")], CALLER, expected_version=4)
    assert here.append(session_id, [said("pinned")], CALLER, expected_version=5).version == 6
    history = store.read_stream(session_id)
    assert [e.version for e in history] == list(range(1, 7))
    assert all(b.prev_hash == a.hash for a, b in itertools.pairwise(history))


def test_appends_keep_working_after_many_refused_commits(store):
    """A refused commit skips the statements queued after the failing one in psycopg's
    pipeline: none of them may be left behind as a prepared statement the server never made
    (a 500 "prepared statement does not exist" on a later append). Two command services
    (two API processes) take turns, so each commits on a stale cache, is refused, retries."""
    one, other = SessionCommands(store), SessionCommands(store)
    session_id = started(one)
    for n in range(12):
        one.append(session_id, [said(f"one {n}")], CALLER)
        other.append(session_id, [said(f"other {n}")], CALLER)
    assert one.load(session_id).version == 25


# --- what the store writes --------------------------------------------------------------------


def test_the_stored_bytes_are_the_document_the_hash_covers(store):
    session_id, result = two_said(store)
    rows = rows_of(
        store,
        "SELECT state, notification_id FROM stored_events WHERE originator_id = %s"
        " ORDER BY originator_version",
        session_id,
    )
    stored = [(bytes(r["state"]), r["notification_id"]) for r in rows][1:]
    assert [compute_hash(decode_document(state)) for state, _ in stored] == [
        e.hash for e in result.events
    ]
    assert [Envelope.from_stored(*row) for row in stored] == result.events


def unstored_message(store: EventStore) -> Envelope:
    """A sealed envelope of a fresh session, not yet stored."""
    session = Session(uuid.uuid4())
    context = EventContext(**CALLER.model_dump(), recorded_at=datetime.now(UTC))
    session.record(SessionStarted(agent_id="a", channel="web"), context)
    store.append(session.collect_events())
    return session.record(said("original").payload, context)


def test_the_store_refuses_an_envelope_its_hash_does_not_cover(store):
    sealed = unstored_message(store)
    tampered = sealed.model_copy(update={"payload": {**sealed.payload, "text": "forged"}})
    hand_built = Envelope.model_validate({**sealed.to_document(), "hash": "f" * 64})
    for envelope in (tampered, hand_built):
        with pytest.raises(ValueError, match="hash does not cover"):
            store.append([envelope])
    assert len(store.read_stream(sealed.stream_id)) == 1


def test_the_store_takes_a_hand_built_envelope_its_hash_covers(store):
    sealed = unstored_message(store)
    hand_built = Envelope.model_validate(seal(sealed.to_document()))
    store.append([hand_built])
    assert store.read_stream(sealed.stream_id)[-1].hash == sealed.hash


# --- reading the log -------------------------------------------------------------------------


def test_read_log_takes_a_range_and_types(store):
    _, first = two_said(store)
    _, second = two_said(store)
    everything = store.read_log(0, 100)
    assert [e.position for e in everything] == sorted(e.position for e in everything)
    assert len(everything) == 6
    middle = everything[1].position
    assert store.read_log(middle, 2) == everything[2:4]
    assert store.read_log(middle, 100, up_to=everything[4].position) == everything[2:5]
    messages = store.read_log(0, 100, types=[MessageRecorded.event_type])
    assert messages == [*first.events, *second.events]
    start = everything[0].position
    assert store.read_log(0, 100, up_to=start, types=[MessageRecorded.event_type]) == []


def copy_log(url: str, events: int) -> None:
    """Rows COPYed into the log, never analysed, as after a bulk import."""
    with psycopg.connect(url, autocommit=True) as conn, conn.cursor() as cur:
        columns = "originator_id, originator_version, topic, state"
        statement = f"COPY stored_events ({columns}) FROM STDIN"
        with cur.copy(statement) as copy:
            for index in range(events):
                copy.write_row((uuid.UUID(int=index // 10), index % 10 + 1, "t", b"{}"))


def test_reading_the_log_walks_its_index_and_never_sorts_what_follows(store):
    """A rebuild reads the whole log this way; sorting all that follows each batch would make
    it quadratic. (A read ``up_to`` a position sorts at most the range it asked for.)"""
    copy_log(store.url, 20_000)
    query, params = read_log_statement(10_000, 100)
    with psycopg.connect(store.url) as conn:
        [(plan,)] = conn.execute(f"EXPLAIN (FORMAT JSON) {query}", params).fetchall()
    top = plan[0]["Plan"]
    assert top["Node Type"] == "Limit"
    assert top["Plans"][0]["Node Type"] == "Index Scan", plan


def _sealed_start(session_id: uuid.UUID) -> list[Envelope]:
    session = Session(session_id)
    context = EventContext(**CALLER.model_dump(), recorded_at=datetime.now(UTC))
    session.record(SessionStarted(agent_id="a", channel="web"), context)
    return session.collect_events()


def test_appends_do_not_wait_for_a_vacuum_of_the_events_table(store, database_url):
    """VACUUM holds SHARE UPDATE EXCLUSIVE on the table; eventsourcing's LOCK TABLE ... IN
    EXCLUSIVE MODE waited for it (until autovacuum was cancelled, 1 s later)."""
    with psycopg.connect(database_url) as vacuum:
        vacuum.execute("LOCK TABLE stored_events IN SHARE UPDATE EXCLUSIVE MODE")
        appended = threading.Thread(target=store.append, args=(_sealed_start(uuid.uuid4()),))
        appended.start()
        appended.join(timeout=10)
        assert not appended.is_alive(), "the append waited for the vacuum's lock"
        vacuum.rollback()


def test_a_reader_tailing_the_log_never_passes_a_position_filled_in_later(database_url):
    """Writers in several processes' worth of stores commit in position order, so whatever
    a reader sees is the whole log up to the newest position it sees."""
    stores = [EventStore(database_url, pool_size=2, group_commit=False) for _ in range(4)]
    stores[0].create_schema()
    stop = threading.Event()

    def write(store: EventStore) -> None:
        while not stop.is_set():
            store.append(_sealed_start(uuid.uuid4()))

    writers = [threading.Thread(target=write, args=(s,)) for s in stores for _ in range(2)]
    for writer in writers:
        writer.start()
    seen, deadline = 0, time.monotonic() + 30
    try:
        with psycopg.connect(database_url, autocommit=True) as reader:
            while seen < 500 and time.monotonic() < deadline:
                positions = [
                    p
                    for (p,) in reader.execute(
                        "SELECT notification_id FROM stored_events WHERE notification_id > %s"
                        " ORDER BY notification_id",
                        (seen,),
                    )
                ]
                assert positions == list(range(seen + 1, seen + 1 + len(positions)))
                seen = positions[-1] if positions else seen
    finally:
        stop.set()
        for writer in writers:
            writer.join()
        for store in stores:
            store.close()
    assert seen >= 500  # read while eight writers appended
