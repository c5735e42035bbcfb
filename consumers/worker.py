"""The stream processor: a faust-streaming app that feeds batches from ``ledger.events`` to the
projection engine, one PostgreSQL transaction per batch.

The batches are applied by a child process (``Projector``), in order, the next one queued
behind the one applying while faust buffers a third: faust's per-event work and the read
models' decoding, folding and SQL run on two cores instead of taking turns on one GIL. A
batch's offsets become committable only after its transaction committed: a crash re-delivers
the batch, and the engine skips what it already applied.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import signal
import socket
import time
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import Executor, ProcessPoolExecutor

import faust
import psycopg
from faust.tables import TableManager
from faust.types import EventT

from domain.envelope import Envelope
from infra.broker import POSITION_HEADER, bootstrap_servers, ensure_topic
from infra.database import create_pool, warn_about_server
from infra.event_store import EventStore
from infra.gc_tuning import tune_garbage_collection
from infra.logging import configure_logging, get_logger
from infra.processes import exit_with_parent
from infra.settings import Settings, get_settings
from projections.engine import ANY_PROJECTION, TRANSIENT, ProjectionEngine
from projections.registry import apply_read_model_schema, streaming_projections

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


class TablelessManager(TableManager):
    """faust's table manager, without the second it sleeps on start so that tables declared
    late can still register: the ledger's apps declare none (the read models live in
    PostgreSQL), and that second was a fifth of the worker's start (measured: 1.0 s between
    the agents starting and the consumer subscribing)."""

    async def on_start(self) -> None:
        if self:  # a table was declared after all: wait as faust does
            await super().on_start()
        elif not self.should_stop:
            await self._update_channels()
            await self.recovery.start()


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
        TableManager=TablelessManager,
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
        projector = Projector(stream, _projector_process(database_url), process_in_child)
        async for events in stream.take_events(
            settings.worker_batch_size, within=settings.worker_batch_within
        ):
            await projector.submit(events)

    return app


class Projector:
    """Applies faust batches through ``executor`` (one worker: batches apply in order), up to
    ``depth`` at a time, while faust buffers the next.

    Two in flight, not one: the next batch is already pickled and sent to the child while the
    current one applies, so the child goes from one commit straight to the next batch instead
    of waiting for the parent's event loop to hear of the commit, release 500 messages and
    send it (measured: 13 of the 57 ms a 500-event batch took from the parent's side).

    ``take_events`` acknowledges each event once its loop body returns, which here is before
    the batch is applied; so each message is held once more (``incref``) and released when
    its batch has committed: only then can faust commit its offset. A batch that fails stops
    the worker process: its events stay unacknowledged and are delivered again to the
    restarted worker (the engine skips what was applied), and the child applies no batch
    after it (``StopAfterFailure``). The engine itself never raises for a bad event (it parks
    it) nor for an unavailable database (it waits)."""

    def __init__(
        self, stream, executor: Executor, apply: Callable[[list], int], *, depth: int = 2
    ) -> None:
        self.stream = stream
        self.executor = executor
        self.apply = apply
        self.depth = depth
        self.in_flight: deque[asyncio.Future] = deque()

    async def submit(self, events: Sequence[EventT]) -> None:
        for event in events:
            event.message.incref()
        while len(self.in_flight) >= self.depth:
            await self.in_flight.popleft()
        messages = [(event.value, _headers(event)) for event in events]
        self.in_flight.append(asyncio.ensure_future(self._apply(list(events), messages)))

    async def _apply(self, events: list[EventT], messages: list) -> None:
        try:
            await asyncio.wrap_future(self.executor.submit(self.apply, messages))
        except Exception as error:
            log.error("batch not applied; stopping the worker", error=repr(error))
            self.stop_process()
            return
        for event in events:
            await self.stream.ack(event)

    def stop_process(self) -> None:
        os._exit(1)  # at once: nothing of the failed batch may be acknowledged on the way out


class StopAfterFailure:
    """``apply`` until it raises once, then refusing every later batch: with two batches in
    flight, the one queued behind a failed batch must not be applied before the worker
    stops, or its offsets could be committed past the failed one's events."""

    def __init__(self, apply: Callable[[list], int]) -> None:
        self._apply = apply
        self.failed: BaseException | None = None

    def __call__(self, messages: list) -> int:
        if self.failed is not None:
            raise RuntimeError("an earlier batch failed; no later batch is applied") from (
                self.failed
            )
        try:
            return self._apply(messages)
        except BaseException as error:
            self.failed = error
            raise


def _projector_process(database_url: str) -> ProcessPoolExecutor:
    # Spawned, not forked: faust's threads are running, and a fork copies their locks held.
    executor = ProcessPoolExecutor(
        1,
        mp_context=multiprocessing.get_context("spawn"),
        initializer=_start_child,
        initargs=(database_url,),
    )
    executor.submit(int)  # start it now, while the consumer group is being joined
    return executor


_PROCESSOR: StopAfterFailure | None = None


def _start_child(database_url: str) -> None:
    global _PROCESSOR
    exit_with_parent(signal.SIGKILL)  # a killed worker must not leave a writer behind
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C stops the worker, which stops this
    settings = get_settings()
    configure_logging(settings.log_level, settings.log_json)
    _PROCESSOR = StopAfterFailure(_build_processor(database_url).process)
    tune_garbage_collection()


def process_in_child(messages: Sequence[tuple[bytes, dict[str, bytes]]]) -> int:
    return _PROCESSOR(messages)


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
    apply_read_model_schema(database_url)
    warn_about_server(database_url)
    app = create_worker_app(settings, bootstrap=bootstrap, database_url=database_url)
    tune_garbage_collection()
    Worker(app, loglevel="warning", quiet=True, redirect_stdouts=False).execute_from_commandline()
