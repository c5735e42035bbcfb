"""One relay publishes; a second one of the same name stands by and takes over on a crash."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator

import psycopg
import pytest

from api.commands import Caller, NewEvent, SessionCommands
from consumers.relay import Relay
from domain.envelope import SYSTEM_ACTOR
from domain.events import MessageRecorded, SessionStarted
from infra.database import create_pool
from infra.embedded import EmbeddedBroker
from infra.event_store import EVENTS_TABLE, EventStore
from infra.verification import verify_ledger

CALLER = Caller(workspace_id="w1", actor=SYSTEM_ACTOR)
TOPIC = "relay.leadership"


@pytest.fixture
def bootstrap(tmp_path) -> Iterator[str]:
    broker = EmbeddedBroker(tmp_path)
    try:
        yield broker.start()
    finally:
        broker.stop()


def conversation(store: EventStore) -> None:
    session_id = uuid.uuid4()
    SessionCommands(store).start(
        session_id,
        NewEvent(SessionStarted(agent_id="a", channel="web")),
        CALLER,
    )
    SessionCommands(store).append(
        session_id,
        [NewEvent(MessageRecorded(message_id="m", author_role="customer", text="t"))],
        CALLER,
    )


def head(store: EventStore) -> int:
    with psycopg.connect(store.url) as conn:
        return conn.execute(f"SELECT max(notification_id) FROM {EVENTS_TABLE}").fetchone()[0]


def published(store: EventStore) -> tuple[int, int] | None:
    with psycopg.connect(store.url) as conn:
        return conn.execute(
            "SELECT position, pid FROM relay_position WHERE relay = 'kafka'"
        ).fetchone()


def wait_for(condition, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


class Running:
    """A relay on a thread of its own, as `ledger relay` runs one in a process of its own."""

    def __init__(self, store: EventStore, bootstrap: str) -> None:
        self.pool = create_pool(store.url, size=2, name="relay-test")
        self.relay = Relay(
            store, self.pool, bootstrap=bootstrap, topic=TOPIC, partitions=2, idle_wait=0.1
        )
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.relay.run, args=(self.stop,), daemon=True)
        self.thread.start()

    def end(self) -> None:
        if self.stop.is_set():
            return
        self.stop.set()
        self.thread.join(30)
        self.pool.close()


def test_a_second_relay_stands_by_and_takes_over(store, bootstrap):
    conversation(store)
    first = Running(store, bootstrap)
    try:
        wait_for(lambda: (published(store) or (0,))[0] == head(store))
        second = Running(store, bootstrap)
        try:
            time.sleep(1.0)
            assert second.relay.producer is None  # standing by: never connected a producer
            first.end()
            conversation(store)
            wait_for(lambda: published(store)[0] == head(store))
            assert second.relay.producer is not None
        finally:
            second.end()
    finally:
        first.end()


def test_the_relay_records_the_global_chain_as_far_as_it_published(store, bootstrap):
    """The chain head is written with the position, so the newest events stay attested
    between checkpoints and after the checkpoints' rows are gone."""
    conversation(store)
    relay = Running(store, bootstrap)
    try:
        wait_for(lambda: (published(store) or (0,))[0] == head(store))
        with psycopg.connect(store.url) as conn:
            conn.execute("DELETE FROM ledger_chain_checkpoints")
            conn.commit()
        report = verify_ledger(store.url)
        assert report.ok
        assert report.chain_attested_through == head(store) == 2
    finally:
        relay.end()
