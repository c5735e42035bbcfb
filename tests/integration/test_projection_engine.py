"""The projection engine: exactly once per (read model, stream, version) whatever the
transport does, poison events parked per read model, and streaming equal to a batch build."""

from __future__ import annotations

import itertools

import orjson
import psycopg
import pytest
from eventsourcing.persistence import OperationalError as StoreOperationalError
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from consumers.worker import BatchProcessor
from domain.envelope import Envelope
from infra.broker import POSITION_HEADER
from infra.database import apply_schema, create_pool
from infra.event_store import EventStore
from projections.engine import ProjectionEngine
from projections.registry import all_projections, read_model_schema
from projections.status import parked_events
from tests.builders import REVIEWER, SessionScript

# Bookkeeping that legitimately differs between two builds, or is not a read model.
NOT_READ_MODELS = {
    "stored_events",
    "ledger_event_ids",
    "stream_heads",
    "relay_position",
    "ledger_chain_checkpoints",
    "parked_events",
    "stream_workers",
    "api_keys",
    "read_model_generations",
}
VOLATILE_COLUMNS = {"updated_at", "created_at", "applied_at"}


def rich_history() -> list[Envelope]:
    """Several sessions touching every read model: contacts that merge, missed questions,
    reviews, handovers; positions global across sessions."""
    positions = itertools.count(1)
    scripts = []
    for n in range(4):
        script = SessionScript(positions=positions)
        script.start(agent_id=f"agent-{n % 2}", contact={"email": f"ada{n % 2}@example.com"})
        script.say("Do you open on Sundays?").reply("I don't know.")
        script.record(
            "session.question_missed",
            message_id=script.session.state.transcript[0].message_id,
            question="Do you open on Sundays?",
            source="workflow",
        )
        script.say("Can I bring a dog?", role="customer")
        script.record(
            "session.human_assessment_set", actor=REVIEWER, assessment="Yes-A", reason="booked"
        )
        script.record("session.tag_added", actor=REVIEWER, tag="vip")
        if n % 2:
            script.record("session.handover_requested", trigger="customer_request")
            script.close()
        scripts.append(script)
    events = [e for s in scripts for e in s.events]
    return sorted(events, key=lambda e: e.position)


def read_models(url: str) -> dict[str, list[tuple]]:
    with psycopg.connect(url) as conn:
        tables = [
            r[0]
            for r in conn.execute(
                "SELECT table_name FROM information_schema.tables"
                " WHERE table_schema = 'public' AND table_type = 'BASE TABLE'"
            ).fetchall()
            if r[0] not in NOT_READ_MODELS
        ]
        dump = {}
        for table in sorted(tables):
            columns = [
                r[0]
                for r in conn.execute(
                    "SELECT column_name FROM information_schema.columns WHERE table_name = %s"
                    " ORDER BY ordinal_position",
                    (table,),
                ).fetchall()
                if r[0] not in VOLATILE_COLUMNS
            ]
            select = ", ".join(f'"{c}"' for c in columns)
            rows = conn.execute(f'SELECT {select} FROM "{table}"').fetchall()
            dump[table] = sorted(rows, key=repr)
        return dump


def reset(url: str) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        for table in [*read_models(url), "parked_events"]:
            conn.execute(f'TRUNCATE "{table}"')


class Ledger:
    """A database holding the history, with an engine over every read model."""

    def __init__(self, url: str, history: list[Envelope]) -> None:
        self.url = url
        self.store = EventStore(url, pool_size=2, group_commit=False)
        self.store.create_schema()
        apply_schema(url, read_model_schema())
        self.store.append([e.model_copy(update={"position": None}) for e in history])
        self.pool = create_pool(url, size=2)
        self.engine = ProjectionEngine(self.pool, all_projections(), self.store)

    def close(self) -> None:
        self.pool.close()
        self.store.close()


@pytest.fixture(scope="module")
def history() -> list[Envelope]:
    return rich_history()


@pytest.fixture(scope="module")
def ledgers(new_database, history):
    batch, streaming = Ledger(new_database(), history), Ledger(new_database(), history)
    batch.engine.apply_batch(history)
    yield batch, streaming
    batch.close()
    streaming.close()


@st.composite
def deliveries(draw, history: list[Envelope]):
    """What Kafka may do: interleave partitions, redeliver ranges, lose non-final events."""
    partitions = draw(st.integers(1, 4))
    by_partition: dict[int, list[Envelope]] = {}
    for event in history:
        by_partition.setdefault(hash(event.stream_id) % partitions, []).append(event)
    last = {e.stream_id: e.version for e in history}
    queues = {p: list(evs) for p, evs in by_partition.items()}
    first_deliveries: list[Envelope] = []
    delivered: list[Envelope] = []
    crashes = draw(st.integers(0, 3))
    while any(queues.values()):
        partition = draw(st.sampled_from(sorted(p for p, q in queues.items() if q)))
        event = queues[partition].pop(0)
        lost = event.version != last[event.stream_id] and draw(st.integers(0, 5)) == 0
        if not lost:  # a stream's newest event always arrives: nothing later would heal it
            first_deliveries.append(event)
            delivered.append(event)
        if crashes and first_deliveries and draw(st.integers(0, 9)) == 0:
            # A crash before the offset commit: a range already delivered comes again.
            crashes -= 1
            start = draw(st.integers(0, len(first_deliveries) - 1))
            delivered.extend(first_deliveries[start:])
    sizes = draw(st.lists(st.integers(1, 25), min_size=1, max_size=50))
    batches, cursor = [], 0
    for size in itertools.cycle(sizes):
        if cursor >= len(delivered):
            break
        batches.append(delivered[cursor : cursor + size])
        cursor += size
    return batches


def test_streaming_in_any_delivery_order_equals_one_batch_build(ledgers, history):
    batch, streaming = ledgers
    expected = read_models(batch.url)
    assert expected["session_list"], "the history must reach the read models"

    @settings(max_examples=15, deadline=None, suppress_health_check=list(HealthCheck))
    @given(schedule=deliveries(history))
    def stream_it(schedule):
        reset(streaming.url)
        for events in schedule:
            streaming.engine.apply_batch(events)
        assert read_models(streaming.url) == expected

    stream_it()


def test_two_workers_taking_turns_equal_one_batch_build(ledgers, history):
    """Each engine keeps the rows it wrote last (``RecentRows``): a row that the other one
    has moved on since, or that a truncation left behind, must be read again, never used."""
    batch, streaming = ledgers
    expected = read_models(batch.url)
    other = ProjectionEngine(streaming.pool, all_projections(), streaming.store)

    @settings(max_examples=15, deadline=None, suppress_health_check=list(HealthCheck))
    @given(schedule=deliveries(history), turns=st.lists(st.booleans(), min_size=1))
    def take_turns(schedule, turns):
        reset(streaming.url)
        for events, mine in zip(schedule, itertools.cycle(turns)):
            (streaming.engine if mine else other).apply_batch(events)
        assert read_models(streaming.url) == expected

    take_turns()


def test_applying_the_same_batch_again_changes_nothing(ledgers, history):
    batch, _ = ledgers
    before = read_models(batch.url)
    assert batch.engine.apply_batch(history) == 0
    assert read_models(batch.url) == before


class Fragile:
    """A read model that cannot take one particular message, until it is fixed."""

    name = "fragile"
    broken = True

    def schema(self) -> list[str]:
        return ["CREATE TABLE IF NOT EXISTS fragile (stream_id uuid, version bigint)"]

    def apply(self, cur, streams) -> None:
        for stream_id, events in streams.items():
            for event in events:
                if self.broken and event.payload.get("text") == "poison":
                    raise ValueError("cannot fold this message")
                cur.execute("INSERT INTO fragile VALUES (%s, %s)", (stream_id, event.version))


def test_a_poison_event_is_parked_for_its_read_model_only_and_retried_after_a_fix(
    database_url,
):
    script = SessionScript().start().say("hello").say("poison").say("after")
    ledger = Ledger(database_url, script.events)
    fragile = Fragile()
    apply_schema(database_url, fragile.schema())
    engine = ProjectionEngine(ledger.pool, [*all_projections(), fragile], ledger.store)
    engine.apply_batch(ledger.store.read_log(0, 100))

    with psycopg.connect(database_url) as conn:
        parked = conn.execute(
            "SELECT projection, version FROM parked_events ORDER BY version"
        ).fetchall()
        listed = conn.execute("SELECT message_count FROM session_list").fetchone()
    assert parked == [("fragile", 3), ("fragile", 4)]  # v4 waits behind the poison v3
    assert listed == (3,), "the other read models moved on"

    Fragile.broken = False
    try:
        assert engine.retry_parked() == (2, 0)
    finally:
        Fragile.broken = True
    with psycopg.connect(database_url) as conn:
        versions = [r[0] for r in conn.execute("SELECT version FROM fragile ORDER BY 1")]
    assert versions == [1, 2, 3, 4]
    ledger.close()


def test_parked_events_are_listed_and_retried_per_workspace(database_url):
    """An admin's key sees and retries its own workspace's parked events only; an operator
    (no workspace) sees them all, and a message that did not decode belongs to none."""
    ours = SessionScript(workspace="ours").start().say("poison")
    theirs = SessionScript(workspace="theirs").start().say("poison")
    ledger = Ledger(database_url, [*ours.events, *theirs.events])
    fragile = Fragile()
    apply_schema(database_url, fragile.schema())
    engine = ProjectionEngine(ledger.pool, [fragile], ledger.store)
    engine.apply_batch(ledger.store.read_log(0, 100))
    engine.park("fragile", "undecodable message", raw=b"{", position=None)

    def listed(workspace):
        with psycopg.connect(database_url) as conn:
            rows = parked_events(conn, workspace=workspace)
        return sorted((row.stream_id or "", row.error == "undecodable message") for row in rows)

    assert listed("ours") == [(str(ours.id), False)]
    assert listed("theirs") == [(str(theirs.id), False)]
    assert listed(None) == sorted([("", True), *listed("ours"), *listed("theirs")])
    Fragile.broken = False
    try:
        assert engine.retry_parked(workspace="ours") == (1, 0)
    finally:
        Fragile.broken = True
    assert listed("ours") == []
    assert listed("theirs") == [(str(theirs.id), False)]
    ledger.close()


class RefusedByTheServer:
    """A read model whose write PostgreSQL refuses for one version: the error arrives only
    when the engine's pipeline syncs, after later statements were sent."""

    name = "refused"

    def schema(self) -> list[str]:
        return [
            "CREATE TABLE IF NOT EXISTS refused"
            " (stream_id uuid, version bigint CHECK (version <> 3))"
        ]

    def apply(self, cur, streams) -> None:
        for stream_id, events in streams.items():
            for event in events:
                cur.execute("INSERT INTO refused VALUES (%s, %s)", (stream_id, event.version))


def test_a_statement_the_server_refuses_parks_the_event_not_the_worker(database_url):
    script = SessionScript().start().say("hello").say("refused").say("after")
    ledger = Ledger(database_url, script.events)
    refused = RefusedByTheServer()
    apply_schema(database_url, refused.schema())
    engine = ProjectionEngine(ledger.pool, [*all_projections(), refused], ledger.store)
    engine.apply_batch(ledger.store.read_log(0, 100))  # returns: no outage to wait out

    with psycopg.connect(database_url) as conn:
        parked = conn.execute(
            "SELECT projection, version FROM parked_events ORDER BY version"
        ).fetchall()
        listed = conn.execute("SELECT message_count FROM session_list").fetchone()
    assert parked == [("refused", 3), ("refused", 4)]
    assert listed == (3,), "the other read models moved on"
    ledger.close()


def test_a_gap_is_healed_from_the_event_store(database_url):
    script = SessionScript().start().say("one").say("two").say("three")
    ledger = Ledger(database_url, script.events)
    stored = ledger.store.read_log(0, 100)
    ledger.engine.apply_batch([stored[0], stored[3]])  # versions 2 and 3 never arrived
    with psycopg.connect(database_url) as conn:
        assert conn.execute("SELECT message_count, version FROM session_list").fetchone() == (
            3,
            4,
        )
    ledger.close()


class Unreachable(Fragile):
    """A read model whose database goes away for its first ``outages`` transactions."""

    name = "unreachable"

    def __init__(self, outages: int, error: type[Exception]) -> None:
        self.outages = outages
        self.error = error

    def schema(self) -> list[str]:
        return ["CREATE TABLE IF NOT EXISTS unreachable (stream_id uuid, version bigint)"]

    def apply(self, cur, streams) -> None:
        if self.outages:
            self.outages -= 1
            raise self.error("server closed the connection unexpectedly")
        for stream_id, events in streams.items():
            for event in events:
                cur.execute("INSERT INTO unreachable VALUES (%s, %s)", (stream_id, event.version))


# psycopg's own, and the event store's (what a log-ordered read model's reads raise).
@pytest.mark.parametrize("error", [psycopg.OperationalError, StoreOperationalError])
def test_a_database_outage_is_waited_out_never_parked(database_url, error):
    """Drill 4 parked a valid event when PostgreSQL restarted mid-batch: an outage is the
    database's fault, not the event's, so the batch is held and applied once it answers."""
    script = SessionScript().start().say("hello").say("again")
    ledger = Ledger(database_url, script.events)
    unreachable = Unreachable(outages=3, error=error)
    apply_schema(database_url, unreachable.schema())
    engine = ProjectionEngine(ledger.pool, [*all_projections(), unreachable], ledger.store)
    events = ledger.store.read_log(0, 100)

    with pytest.raises(error):
        engine.apply_batch(events)  # the engine does not isolate or park: it says so
    processor = BatchProcessor(engine, retry_wait=0.01)
    processor.process(
        [
            (orjson.dumps(e.to_document()), {POSITION_HEADER: str(e.position).encode()})
            for e in events
        ]
    )

    with psycopg.connect(database_url) as conn:
        assert conn.execute("SELECT count(*) FROM parked_events").fetchone() == (0,)
        versions = [r[0] for r in conn.execute("SELECT version FROM unreachable ORDER BY 1")]
    assert versions == [1, 2, 3]
    ledger.close()


def test_a_payload_that_does_not_decode_is_parked_by_each_read_model_that_folds_it(
    database_url,
):
    """The engine decodes a batch's payloads ahead, while PostgreSQL finds the applied
    versions; one that fails there must still fail only where it is folded."""
    script = SessionScript().start().say("hello").say("garbled").say("after")
    ledger = Ledger(database_url, script.events)
    delivered = ledger.store.read_log(0, 100)
    delivered[2] = delivered[2].model_copy(update={"payload": {"text": 42}})  # as Kafka gave it
    ledger.engine.apply_batch(delivered)

    with psycopg.connect(database_url) as conn:
        parked = conn.execute("SELECT DISTINCT projection FROM parked_events").fetchall()
        listed = conn.execute("SELECT message_count FROM session_list").fetchone()
        leads = conn.execute("SELECT count(*) FROM lead_members").fetchone()
    assert sorted(parked) == [("missed_questions",), ("session_list",)], "they fold messages"
    # The next event's gap is healed from the event store, whose copy reads.
    assert listed == (3,)
    assert leads == (1,)
    ledger.close()


class CountingReads:
    """The event store, counting the log reads the engine makes through it."""

    def __init__(self, store: EventStore) -> None:
        self.store = store
        self.log_reads = 0

    def read_log(self, *args, **kwargs):
        self.log_reads += 1
        return self.store.read_log(*args, **kwargs)

    def read_stream(self, *args, **kwargs):
        return self.store.read_stream(*args, **kwargs)


def test_leads_read_the_log_only_when_the_batch_leaves_a_position_out(new_database, history):
    """Leads fold in the log's order across streams: a batch holding every position up to
    its newest (one partition, in order) is that order already; one that leaves a position
    out (another partition's) makes the engine read the log for it."""
    url = new_database()
    ledger = Ledger(url, history)
    source = CountingReads(ledger.store)
    engine = ProjectionEngine(ledger.pool, all_projections(), source)
    whole, rest = history[:10], history[10:]
    engine.apply_batch(whole)
    assert source.log_reads == 0

    engine.apply_batch([event for event in rest if event.position % 3])  # two partitions' worth
    assert source.log_reads == 1
    engine.apply_batch([event for event in rest if not event.position % 3])

    streamed = read_models(url)
    reset(url)
    ledger.engine.apply_batch(history)
    assert streamed == read_models(url)
    ledger.close()
