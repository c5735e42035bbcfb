"""The live streams' shared feed: one read of the log per poll however many streams are open,
each stream handed its own workspace's changes, after the position it subscribed at.

The log here is a list in memory standing in for ``read_changes`` (which the end-to-end
tests in ``tests/e2e/test_live_updates.py`` run against the real stack): what is under test
is the fan-out."""

from __future__ import annotations

import asyncio
import time
from types import SimpleNamespace
from uuid import uuid4

import pytest

from api import session_feed
from api.session_feed import ChangesRead, SessionChangeFeed, newest_per_session


class MemoryLog:
    """Session events as (session, version, position, workspace), all applied."""

    def __init__(self) -> None:
        self.rows: list[tuple] = []
        self.reads = 0

    def record(self, workspace: str) -> int:
        position = len(self.rows) + 1
        self.rows.append((uuid4(), 1, position, workspace))
        return position

    def read(self, _ledger, after: int, **_) -> ChangesRead:
        self.reads += 1
        fresh = [row for row in self.rows if row[2] > after]
        return ChangesRead(newest_per_session(fresh), len(self.rows), False)

    def ledger(self) -> SimpleNamespace:
        head = lambda: len(self.rows)  # noqa: E731
        progress = SimpleNamespace(applied_through=lambda _projection, through: through)
        return SimpleNamespace(store=SimpleNamespace(max_position=head), progress=progress)


@pytest.fixture
def log(monkeypatch) -> MemoryLog:
    memory = MemoryLog()
    monkeypatch.setattr(session_feed, "read_changes", memory.read)
    monkeypatch.setattr(session_feed, "POLL_SECONDS", POLL)
    return memory


def drained(queue: asyncio.Queue) -> list[int]:
    positions = []
    while not queue.empty():
        positions += [change.position for change in queue.get_nowait()]
    return positions


POLL = 0.01


async def polls(n: int) -> None:
    await asyncio.sleep(POLL * n + 0.05)


async def until(condition, timeout: float = 10.0) -> None:
    """Wait for ``condition()``: the machine may be busy, the feed's polls late."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(POLL)


def test_one_read_serves_every_stream_each_its_own_workspace(log):
    async def scenario():
        started = time.monotonic()
        feed = SessionChangeFeed(log.ledger())
        acme = [(await feed.subscribe("acme"))[0] for _ in range(20)]
        beta, _ = await feed.subscribe("beta")
        mine, theirs = log.record("acme"), log.record("beta")
        await until(lambda: all(not queue.empty() for queue in [*acme, beta]))
        assert all(drained(queue) == [mine] for queue in acme)
        assert drained(beta) == [theirs]
        return log.reads, time.monotonic() - started

    reads, seconds = asyncio.run(scenario())
    # One read per poll (each followed by a poll's sleep), not one per stream and poll.
    assert reads <= seconds / POLL + 2


def test_a_stream_gets_what_follows_the_position_it_subscribed_at(log):
    async def scenario():
        before = log.record("acme")
        feed = SessionChangeFeed(log.ledger())
        queue, since = await feed.subscribe("acme")
        after = log.record("acme")
        await until(lambda: not queue.empty())
        await polls(3)
        return before, since, drained(queue), after

    before, since, delivered, after = asyncio.run(scenario())
    assert since == before  # the stream reads up to here itself (Last-Event-ID's gap)
    assert delivered == [after]


def test_a_stream_that_stops_reading_is_marked_and_left_behind(log, monkeypatch):
    monkeypatch.setattr(session_feed, "MAX_QUEUED_READS", 2)

    async def scenario():
        feed = SessionChangeFeed(log.ledger())
        stuck, _ = await feed.subscribe("acme")
        reading, _ = await feed.subscribe("acme")
        positions = []
        for _ in range(4):
            log.record("acme")
            await until(lambda: not reading.empty())
            positions += drained(reading)
        return feed.overflowed(stuck), feed.overflowed(reading), positions

    stuck, reading, positions = asyncio.run(scenario())
    assert stuck and not reading
    assert positions == [1, 2, 3, 4]


def test_the_feed_stops_reading_when_no_stream_is_left_and_starts_again(log):
    async def scenario():
        feed = SessionChangeFeed(log.ledger())
        queue, _ = await feed.subscribe("acme")
        await until(lambda: log.reads > 0)
        feed.unsubscribe(queue)
        await until(lambda: feed._task is None)
        reads = log.reads
        await polls(3)
        idle_reads = log.reads - reads
        queue, since = await feed.subscribe("acme")
        position = log.record("acme")
        await until(lambda: not queue.empty())
        return idle_reads, since, drained(queue), position

    idle_reads, since, delivered, position = asyncio.run(scenario())
    assert idle_reads == 0
    assert since == 0 and delivered == [position]
