"""After a drill: is every acknowledged event in the event store exactly once, on Kafka, and
in every read model exactly once?

- The store: every acknowledged event id is stored, and none twice.
- Kafka: the topic, consumed from offset 0, holds every stored (stream, version). Copies are
  allowed there (the relay publishes at least once); they are counted, not failed.
- Read models: each has applied every stream up to its head, and a rebuild from the store
  (the same projections, applied by ProjectionEngine in a fresh database) ends with the same
  event counts and the same session_list rows: a double-applied event would show in both.
"""

from __future__ import annotations

import time
import uuid
from collections import Counter
from dataclasses import asdict, dataclass, field

import psycopg
from kafka import KafkaConsumer, TopicPartition

from bench import ledger_state
from domain.envelope import decode_document
from infra.database import apply_schema, create_database, create_pool, drop_database, server_url
from infra.event_store import EventStore
from projections.engine import ProjectionEngine
from projections.registry import all_projections, read_model_schema
from projections.session_list import COLUMNS

KAFKA_QUIET_SECONDS = 3.0
REBUILD_CHUNK = 1000
# Written when a row is applied, not derived from events: a rebuild cannot reproduce them.
UNREPRODUCIBLE_COLUMNS = frozenset({"updated_at", "projected_at"})


@dataclass
class DrillReport:
    drill: str
    acknowledged: int = 0
    stored: int = 0
    on_kafka: int = 0
    projected: int = 0
    lost: int = 0
    duplicated: int = 0
    kafka_copies: int = 0
    recover_seconds: list[float] = field(default_factory=list)  # one per fault
    statuses: dict[int, int] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)

    def as_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class StoredEvent:
    event_id: str
    stream_id: str
    version: int


def audit(
    report: DrillReport, database_url: str, bootstrap: str, topic: str, acked: set[str]
) -> DrillReport:
    report.acknowledged = len(acked)
    stored = _stored_events(database_url)
    ids = Counter(event.event_id for event in stored)
    report.stored = sum(1 for event_id in acked if event_id in ids)
    report.lost = len(acked - ids.keys())
    report.duplicated = sum(count - 1 for count in ids.values() if count > 1)
    _check_kafka(report, bootstrap, topic, stored, acked)
    _check_read_models(report, database_url, stored, acked)
    return report


def _stored_events(url: str) -> list[StoredEvent]:
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            "SELECT originator_id, originator_version, state FROM stored_events"
        ).fetchall()
    return [
        StoredEvent(decode_document(bytes(state))["event_id"], str(stream), version)
        for stream, version, state in rows
    ]


def _check_kafka(
    report: DrillReport, bootstrap: str, topic: str, stored: list[StoredEvent], acked: set[str]
) -> None:
    published = kafka_versions(bootstrap, topic, expect=len(stored))
    wanted = {(event.stream_id, event.version) for event in stored}
    report.on_kafka = sum(
        1 for e in stored if e.event_id in acked and (e.stream_id, e.version) in published
    )
    report.kafka_copies = sum(count - 1 for count in published.values() if count > 1)
    missing = wanted - published.keys()
    if missing:
        report.problems.append(f"{len(missing)} stored events not on Kafka, e.g. {min(missing)}")


def kafka_versions(bootstrap: str, topic: str, *, expect: int) -> Counter:
    """(stream, version) -> copies on the topic, read from offset 0 of every partition.

    Read until ``expect`` distinct events arrived and the topic stayed quiet a moment
    (Tansu's end offsets can under-report, so they are not trusted to say "done").
    """
    consumer = KafkaConsumer(
        bootstrap_servers=bootstrap.split(","), enable_auto_commit=False, group_id=None
    )
    try:
        partitions = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic)]
        consumer.assign(partitions)
        consumer.seek_to_beginning(*partitions)
        counts: Counter = Counter()
        quiet_since = time.monotonic()
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            batch = consumer.poll(timeout_ms=500, max_records=5000)
            for records in batch.values():
                for record in records:
                    counts[(record.key.decode(), decode_document(record.value)["version"])] += 1
            if batch:
                quiet_since = time.monotonic()
            elif len(counts) >= expect and time.monotonic() - quiet_since > KAFKA_QUIET_SECONDS:
                break
        return counts
    finally:
        consumer.close()


def _check_read_models(report, url: str, stored: list[StoredEvent], acked: set[str]) -> None:
    try:
        ledger_state.wait_caught_up(url, timeout=180)
    except TimeoutError:
        report.problems.append(f"read models behind: {ledger_state.lagging_streams(url)}")
    report.projected = _projected(url, stored, acked)
    parked = _parked(url)
    if parked:
        report.problems.append(f"parked events (a read model could not apply them): {parked}")
    live = _read_model_state(url)
    rebuilt = rebuild_from_store(url)
    for what in live.keys() | rebuilt.keys():
        if live.get(what) != rebuilt.get(what):
            report.problems.append(f"{what} differs from a rebuild from the store")


def _parked(url: str) -> list[tuple]:
    with psycopg.connect(url) as conn:
        return conn.execute(
            "SELECT projection, event_type, left(error, 200) FROM parked_events LIMIT 5"
        ).fetchall()


def _projected(url: str, stored: list[StoredEvent], acked: set[str]) -> int:
    """Acknowledged events that every read model has applied (its stream version covers)."""
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            "SELECT stream_id::text, min(version) FROM projection_streams"
            " WHERE projection = ANY(%s) GROUP BY stream_id HAVING count(*) = %s",
            (ledger_state.projection_names(), len(ledger_state.projection_names())),
        ).fetchall()
    applied = dict(rows)
    return sum(
        1 for e in stored if e.event_id in acked and applied.get(e.stream_id, 0) >= e.version
    )


def _read_model_state(url: str) -> dict[str, object]:
    """What a double-applied or skipped event would change: events applied per read model,
    and every reproducible column of every session_list row."""
    columns = [c for c in COLUMNS if c not in UNREPRODUCIBLE_COLUMNS]
    select = psycopg.sql.SQL("SELECT {} FROM session_list").format(
        psycopg.sql.SQL(", ").join(map(psycopg.sql.Identifier, columns))
    )
    with psycopg.connect(url) as conn:
        applied = dict(
            conn.execute("SELECT projection, events_applied FROM projection_status").fetchall()
        )
        rows = {row[0]: row for row in conn.execute(select).fetchall()}
    return {f"events applied by {name}": count for name, count in applied.items()} | {
        "session_list rows": rows
    }


def rebuild_from_store(url: str) -> dict[str, object]:
    """Apply the whole event store, in log order, to fresh read models in a scratch database."""
    scratch = server_url(url, f"drill_rebuild_{uuid.uuid4().hex[:8]}")
    create_database(scratch)
    store = EventStore(url, pool_size=2)
    pool = None
    try:
        apply_schema(scratch, read_model_schema())
        pool = create_pool(scratch, size=2, name="rebuild")
        engine = ProjectionEngine(pool, all_projections(), store)
        position = 0
        while chunk := store.read_log(position, REBUILD_CHUNK):
            engine.apply_batch(chunk)
            position = chunk[-1].position
        return _read_model_state(scratch)
    finally:
        if pool is not None:
            pool.close()
        store.close()
        drop_database(scratch)
