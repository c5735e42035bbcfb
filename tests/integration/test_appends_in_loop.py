"""``SessionCommands.append_in_loop`` (the API's path) against real PostgreSQL: the same
outcomes as ``append`` under races, retries and stale caches, decided in the loop only when
that is safe and cheap."""

from __future__ import annotations

import asyncio
import itertools
import threading
import uuid

from api.commands import (
    IN_LOOP_MAX_EVENTS,
    NewEvent,
    SessionCommands,
    StreamCommands,
    decide_missed_question_status,
)
from domain.errors import VersionConflict
from domain.events import MissedQuestionStatusChanged, SessionStarted
from tests.integration.test_event_store import CALLER, said, started


async def _outcome(call):
    try:
        return await call
    except Exception as error:
        return error


def race_in_loop(*calls):
    """Await the coroutines side by side on one event loop; each one's result or exception."""

    async def run():
        return await asyncio.gather(*(_outcome(call) for call in calls))

    return asyncio.run(run())


def test_appends_in_loop_without_expected_version_all_land_in_order(store):
    commands = SessionCommands(store, max_retries=20)
    session_id = started(commands)
    results = race_in_loop(
        *[commands.append_in_loop(session_id, [said(f"m{i}")], CALLER) for i in range(12)]
    )
    assert not [r for r in results if isinstance(r, Exception)], results
    history = store.read_stream(session_id)
    assert [e.version for e in history] == list(range(1, 14))
    assert all(b.prev_hash == a.hash for a, b in itertools.pairwise(history))


def test_appends_in_loop_with_the_same_expected_version_one_wins_one_conflicts(store):
    commands = SessionCommands(store)
    for _ in range(5):
        session_id = started(commands)
        results = race_in_loop(
            *[
                commands.append_in_loop(session_id, [said(text)], CALLER, expected_version=1)
                for text in "AB"
            ]
        )
        assert sum(isinstance(r, VersionConflict) for r in results) == 1, results
        assert len(store.read_stream(session_id)) == 2


def test_a_retried_event_id_racing_itself_in_loop_is_stored_once(store):
    commands = SessionCommands(store, max_retries=20)
    session_id = started(commands)
    item = said("once", uuid.uuid4())
    results = race_in_loop(*[commands.append_in_loop(session_id, [item], CALLER) for _ in range(4)])
    assert not [r for r in results if isinstance(r, Exception)], results
    assert sum(not r.duplicate for r in results) == 1
    assert len(store.read_stream(session_id)) == 2


def test_in_loop_and_threaded_appends_to_one_session_interleave_safely(store):
    commands = SessionCommands(store, max_retries=20)
    session_id = started(commands)

    async def both():
        threaded = [
            asyncio.to_thread(commands.append, session_id, [said(f"t{i}")], CALLER)
            for i in range(6)
        ]
        looped = [commands.append_in_loop(session_id, [said(f"l{i}")], CALLER) for i in range(6)]
        return await asyncio.gather(*(_outcome(c) for c in threaded + looped))

    results = asyncio.run(both())
    assert not [r for r in results if isinstance(r, Exception)], results
    history = store.read_stream(session_id)
    assert [e.version for e in history] == list(range(1, 14))
    assert all(b.prev_hash == a.hash for a, b in itertools.pairwise(history))


def test_a_stale_cache_in_loop_is_caught_up_not_used(store):
    here, elsewhere = SessionCommands(store), SessionCommands(store)
    session_id = started(here)
    elsewhere.append(session_id, [said("elsewhere")], CALLER)  # here's cache says 1
    result = asyncio.run(here.append_in_loop(session_id, [said("here")], CALLER))
    assert result.version == 3
    history = store.read_stream(session_id)
    assert [e.version for e in history] == [1, 2, 3]
    assert all(b.prev_hash == a.hash for a, b in itertools.pairwise(history))


def test_a_start_in_loop_retried_is_a_duplicate(store):
    start = NewEvent(SessionStarted(agent_id="a", channel="web"), uuid.uuid4())
    session_id = uuid.uuid4()
    first = asyncio.run(SessionCommands(store).start_in_loop(session_id, start, CALLER))
    retried = asyncio.run(SessionCommands(store).start_in_loop(session_id, start, CALLER))
    assert retried.duplicate and retried.events[0].hash == first.events[0].hash


class DecidingThreads:
    """Which threads the aggregate decided in."""

    def __init__(self, commands: SessionCommands) -> None:
        self.names: list[str] = []
        record = commands._record

        def watched(*args, **kwargs):
            self.names.append(threading.current_thread().name)
            return record(*args, **kwargs)

        commands._record = watched


def test_a_small_request_on_a_cached_session_is_decided_in_the_loop(store):
    commands = SessionCommands(store)
    session_id = started(commands)
    deciding = DecidingThreads(commands)
    asyncio.run(commands.append_in_loop(session_id, [said("small")], CALLER))
    assert deciding.names == [threading.current_thread().name]


def test_a_request_of_many_events_is_decided_in_the_thread_pool(store):
    commands = SessionCommands(store)
    session_id = started(commands)
    deciding = DecidingThreads(commands)
    many = [said(f"m{i}") for i in range(IN_LOOP_MAX_EVENTS + 1)]
    result = asyncio.run(commands.append_in_loop(session_id, many, CALLER))
    assert result.version == IN_LOOP_MAX_EVENTS + 2
    assert deciding.names and threading.current_thread().name not in deciding.names


def test_an_append_cancelled_while_committing_leaves_the_session_consistent(store):
    """A request handler cancelled at its await (a client gone, a shutdown): its events are
    stored or not, whole, and the next append finds the session as stored."""
    commands = SessionCommands(store)
    session_id = started(commands)

    async def cancel_then_append():
        task = asyncio.ensure_future(commands.append_in_loop(session_id, [said("gone")], CALLER))
        await asyncio.sleep(0)  # it is now awaiting its commit
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        return await commands.append_in_loop(session_id, [said("next")], CALLER)

    result = asyncio.run(cancel_then_append())
    history = store.read_stream(session_id)
    assert result.version == len(history) and len(history) in (2, 3)
    assert [e.version for e in history] == list(range(1, len(history) + 1))
    assert all(b.prev_hash == a.hash for a, b in itertools.pairwise(history))


class CopyCommitsAfterTheLookup:
    """The event store as one API process sees it while another process commits a copy of
    the same request right after this one looked the request's event ids up."""

    def __init__(self, store, commit_the_copy) -> None:
        self._store, self._commit_the_copy, self.copies = store, commit_the_copy, []

    def __getattr__(self, name):
        return getattr(self._store, name)

    def find_events(self, event_ids):
        found = self._store.find_events(event_ids)
        if not self.copies:
            self.copies.append(self._commit_the_copy())
        return found


def test_a_retry_another_process_stores_between_the_lookup_and_the_read_is_a_duplicate(store):
    """The stream, read after the copy committed, refuses the message id as already
    recorded: the answer must be the duplicate, not that refusal."""
    theirs = SessionCommands(store)
    session_id = started(theirs)
    item = said("once", uuid.uuid4())
    seen = CopyCommitsAfterTheLookup(store, lambda: theirs.append(session_id, [item], CALLER))
    result = SessionCommands(seen).append(session_id, [item], CALLER)
    assert (seen.copies[0].duplicate, result.duplicate) == (False, True)
    assert result.events == seen.copies[0].events
    assert len(store.read_stream(session_id)) == 2


def test_a_status_retried_on_another_process_meanwhile_is_a_duplicate(store):
    """The same race on a missed-question group: the copy's status makes the request's
    ``previous`` look stale."""
    group_id = uuid.uuid4()
    item = NewEvent(
        MissedQuestionStatusChanged(status="resolved", previous=None, reason="answered"),
        uuid.uuid4(),
    )

    def status(commands: StreamCommands):
        return commands.append(group_id, item, CALLER, decide_missed_question_status)

    seen = CopyCommitsAfterTheLookup(store, lambda: status(StreamCommands(store)))
    result = status(StreamCommands(seen))
    assert (seen.copies[0].duplicate, result.duplicate) == (False, True)
    assert len(store.read_stream(group_id)) == 1
