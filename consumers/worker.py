"""The stream processor: a faust-streaming app that feeds batches from ``ledger.events`` to the
projection engine, one PostgreSQL transaction per batch.

faust acknowledges a batch (and so commits its offsets) only after the body of the
``take_events`` loop returned, that is after the transaction committed: a crash re-delivers
the batch, and the engine skips what it already applied.
"""

from __future__ import annotations

import asyncio
import os
import socket
import time
from collections.abc import Sequence

import faust
import psycopg
from faust.types import EventT

from domain.envelope import Envelope
from infra.broker import POSITION_HEADER, bootstrap_servers, ensure_topic
from infra.database import apply_schema, create_pool
from infra.event_store import EventStore
from infra.gc_tuning import tune_garbage_collection
from infra.logging import get_logger
from infra.settings import Settings
from projections.engine import ANY_PROJECTION, TRANSIENT, ProjectionEngine
from projections.registry import read_model_schema, streaming_projections

log = get_logger("consumers.worker")
MAX_RETRY_WAIT = 2.0  # seconds between attempts while PostgreSQL is away


class BatchProcessor:
    """Decodes Kafka messages into envelopes and hands them to the projection engine."""

    def __init__(self, engine: ProjectionEngine, *, retry_wait: float = 0.5) -> None:
        self.engine = engine
        self.retry_wait = retry_wait
        self.applied = 0

    def process(self, messages: Sequence[tuple[bytes, dict[str, bytes]]]) -> int:
        envelopes = []
        for value, headers in messages:
            envelope = self._decode(value, headers)
            if envelope is not None:
                envelopes.append(envelope)
        applied = self._apply_until_the_database_answers(envelopes)
        self.applied += applied
        return applied

    def _apply_until_the_database_answers(self, envelopes: Sequence[Envelope]) -> int:
        """The batch, applied once PostgreSQL takes it: while it is down or restarting the
        batch is held (its offsets stay uncommitted) rather than parked or skipped."""
        wait = self.retry_wait
        while True:
            try:
                return self.engine.apply_batch(envelopes)
            except TRANSIENT as error:
                log.warning("database unavailable; retrying the batch", wait=wait, error=str(error))
                time.sleep(wait)
                wait = min(wait * 2, MAX_RETRY_WAIT)

    def _decode(self, value: bytes, headers: dict[str, bytes]) -> Envelope | None:
        position = _header_int(headers, POSITION_HEADER)
        try:
            return Envelope.from_stored(value, position)  # the topic carries the stored bytes
        except Exception as error:  # undecodable: park it, never block the partition
            self.engine.park(
                ANY_PROJECTION, f"undecodable message: {error}", raw=value, position=position
            )
            log.warning("parked undecodable message", position=position, error=str(error))
            return None


def _header_int(headers: dict[str, bytes], name: str) -> int | None:
    raw = headers.get(name)
    return int(raw) if raw else None


def _headers(event: EventT) -> dict[str, bytes]:
    headers = event.message.headers or {}
    if isinstance(headers, dict):
        return headers
    return {key: value for key, value in headers}


# faust hard-codes fetch_max_wait_ms=1500 for its consumers, and Tansu answers a fetch over
# several partitions only when that wait is over, even with records waiting (measured: a
# record waits ~0.65 s at 1,500 ms, ~3 ms at 100 ms): every event reached the read models
# ~0.5 s late. aiokafka keeps the value until the consumer starts, so it is shortened there.
FETCH_MAX_WAIT_MS = 100


def _shorten_fetch_wait() -> None:
    from faust.transport.drivers.aiokafka import AIOKafkaConsumerThread

    create = AIOKafkaConsumerThread._create_worker_consumer
    if getattr(create, "shortened", False):
        return

    def create_with_short_wait(self, transport):
        consumer = create(self, transport)
        consumer._fetch_max_wait_ms = FETCH_MAX_WAIT_MS
        return consumer

    create_with_short_wait.shortened = True
    AIOKafkaConsumerThread._create_worker_consumer = create_with_short_wait


def create_faust_app(settings: Settings, *, bootstrap: str, group: str) -> faust.App:
    """The faust app every stream processor of the topic runs (bench/null_agent.py too)."""
    _shorten_fetch_wait()
    session_timeout = settings.consumer_session_timeout
    return faust.App(
        group,
        broker=[f"kafka://{host}" for host in bootstrap_servers(bootstrap)],
        value_serializer="raw",
        key_serializer="raw",
        # Joins wait about half the session timeout; the defaults make a start take 30 s.
        broker_session_timeout=session_timeout,
        broker_heartbeat_interval=min(1.0, session_timeout / 3),
        broker_rebalance_timeout=session_timeout,
        consumer_auto_offset_reset="earliest",
        topic_disable_leader=True,
        topic_allow_declare=False,
        web_enabled=False,
        store="memory://",
    )


def event_topic(app: faust.App, settings: Settings):
    return app.topic(settings.topic, value_type=bytes, key_type=bytes, value_serializer="raw")


def create_worker_app(settings: Settings, *, bootstrap: str, database_url: str) -> faust.App:
    app = create_faust_app(settings, bootstrap=bootstrap, group=settings.worker_group)
    topic = event_topic(app, settings)

    @app.on_partitions_assigned.connect
    async def _assigned(app: faust.App, assigned, **_) -> None:
        partitions = sorted(tp.partition for tp in assigned if tp.topic == settings.topic)
        await asyncio.to_thread(_record_assignment, database_url, settings.worker_group, partitions)

    @app.agent(topic)
    async def project(stream):
        processor = await asyncio.to_thread(_build_processor, database_url)
        async for events in stream.take_events(
            settings.worker_batch_size, within=settings.worker_batch_within
        ):
            messages = [(event.value, _headers(event)) for event in events]
            await asyncio.to_thread(processor.process, messages)

    return app


def _build_processor(database_url: str) -> BatchProcessor:
    store = EventStore(database_url, pool_size=2)
    pool = create_pool(database_url, size=2, name="worker")
    engine = ProjectionEngine(pool, streaming_projections(store), store)
    return BatchProcessor(engine)


def worker_name(group: str) -> str:
    return f"{group}:{socket.gethostname()}:{os.getpid()}"


def _record_assignment(database_url: str, group: str, partitions: list[int]) -> None:
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute(
            "INSERT INTO stream_workers (worker, group_id, pid, partitions, assigned_at)"
            " VALUES (%s, %s, %s, %s, now()) ON CONFLICT (worker) DO UPDATE"
            " SET partitions = EXCLUDED.partitions, assigned_at = now()",
            (worker_name(group), group, os.getpid(), partitions),
        )
    log.info("partitions assigned", partitions=partitions)


def run_worker(settings: Settings, *, bootstrap: str, database_url: str) -> None:
    from faust.worker import Worker

    # The topic must exist before the consumer subscribes, or the first join is wasted.
    ensure_topic(bootstrap, settings.topic, settings.topic_partitions)
    apply_schema(database_url, read_model_schema())
    app = create_worker_app(settings, bootstrap=bootstrap, database_url=database_url)
    tune_garbage_collection()
    Worker(app, loglevel="warning", quiet=True, redirect_stdouts=False).execute_from_commandline()
