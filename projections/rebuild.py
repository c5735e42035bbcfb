"""Blue/green rebuild of a read model: new tables beside the live ones, from the first event,
with the same folds as the streaming path, then a switch-over that loses no event.

**Where the events come from: the event store's notification log, not Kafka.** Reading the
topic from offset 0 would give the same events, but the store is the system of record (the
topic is a copy, and the embedded broker forgets it on restart), has no retention limit, needs
no consumer group (no join, no rebalance with the running workers) and hands out the global
order directly; the log-ordered read models read it anyway. It is read in batches of
``batch_size`` positions, each next batch read and decoded in a thread while the current one
is applied (``_ReadAhead``), so reading overlaps the batch's round trips to PostgreSQL.

**In partitions.** With ``partitions`` > 1 (``ledger rebuild``'s default is 2), a read model
whose streams are independent (``order = "stream"``) is applied by that many processes at
once, each the share of every batch whose streams hash to it (``_InPartitions``); the driver
only reads the rows, undecoded. ``leads`` (global order) is always applied in one.

**Indexes once, at the end.** A read model may drop the indexes only its readers need before
its tables are loaded (``defer_indexes``) and create them after (``restore_indexes``), before
the switch-over transaction: nobody reads a ``building`` generation, and one index build over
the loaded rows costs a fraction of keeping them up to date row by row.

**Same folds.** Each batch goes through ``ProjectionEngine.apply_within`` into the very
``Projection`` classes the worker uses, constructed over the generation's tables and with its
own bookkeeping key (``session_list__g3``), so exactly-once per (generation, stream, version)
holds as in streaming. Writes are set-based: one multi-row upsert per table and batch.

**Resumable.** The generation's ``position`` and ``events_done`` are updated in the batch's
transaction, with its rows and bookkeeping (in partitions: once every share's transaction has
committed): after a crash (even SIGKILL) the rebuild resumes from the last recorded batch and
loses nothing; an event applied again is skipped by its stream's version.

**Cancellable.** Every batch locks the generation's registry row and stops when it is no
longer ``building``; ``Generations.cancel`` sets that in one UPDATE.

**The switch-over, and why no event is lost.** The worker feeds only ``shadow`` and ``live``
generations; it reads the registry at the start of each batch transaction, right after taking
``SWITCH_LOCK`` shared. While ``building``, only this driver writes the new tables. Once it is
within ``catch_up_distance`` positions of the head, it runs one transaction F that takes
``SWITCH_LOCK`` exclusively, reads the head H *inside* F, applies every event up to H, and sets
the generation to ``shadow`` (caught up). Consider any event e and any worker batch W that
delivers it:

1. W committed before F got the lock (F waits for every W holding the shared lock). W read the
   registry before F's change, so it did not feed the new generation. But e reached Kafka only
   after it was committed to the store (the relay reads the log), so it was committed before
   F read H; positions commit in order (the event store's append lock), so e.position <= H and F
   applied e.
2. W started after F committed (a W that asks for the shared lock while F holds it waits).
   It reads the registry after F, sees ``shadow`` and feeds the new generation: e <= H is
   skipped by version (applied by F), e > H is applied, and a gap in its stream is healed
   from the store.

No W can straddle F. So every event is applied to the new generation exactly once: by the
driver if e <= H, else by the worker, which delivers every event at least once. From then on
the worker feeds both generations; ``Generations.switch`` (one UPDATE under the same lock)
flips ``shadow`` to ``live`` and the old ``live`` to ``retired``, and the API, which reads table
names from the registry per request, serves the new tables from that commit on.
"""

from __future__ import annotations

import multiprocessing
import signal
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ProcessPoolExecutor, ThreadPoolExecutor
from dataclasses import dataclass
from functools import partial
from typing import Any

from psycopg import Cursor
from psycopg_pool import ConnectionPool

from domain.envelope import Envelope
from infra.database import create_pool
from infra.event_store import EventStore, envelope_from_row
from infra.gc_tuning import tune_garbage_collection
from infra.logging import configure_logging, get_logger
from infra.processes import exit_with_parent
from infra.settings import get_settings
from projections.engine import STREAM_ORDER, TRANSIENT, Projection, ProjectionEngine
from projections.generations import (
    BUILDING,
    LIVE,
    SHADOW,
    SWITCH_LOCK,
    Generation,
    GenerationRefused,
    Generations,
    build,
    rebuildable,
    workspace_rules,
)

log = get_logger("projections.rebuild")
DEFAULT_BATCH_SIZE = 5000
# Processes a stream-ordered read model is rebuilt in by `ledger rebuild` (see _InPartitions).
DEFAULT_PARTITIONS = 2
# Batches handed to the partitions at once: the next is queued while the current applies.
BATCHES_IN_FLIGHT = 2
# Seconds before reading again after a read found nothing past the position (it should not:
# appends commit in position order; this keeps a surprise from becoming a busy loop).
EMPTY_READ_PAUSE = 0.05


@dataclass(frozen=True)
class RebuildProgress:
    generation: int
    position: int
    head: int
    events_done: int
    events_per_second: float

    @property
    def eta_seconds(self) -> float | None:
        if self.events_per_second <= 0:
            return None
        # Positions left over the rate: positions include other streams' events too, which
        # the rebuild reads as well, so it is the right unit.
        return max(self.head - self.position, 0) / self.events_per_second


class RebuildCancelled(Exception):
    """The generation stopped being ``building`` (cancelled) while the rebuild ran."""


ProgressListener = Callable[[RebuildProgress], None]


class Rebuild:
    """Builds one generation to ``shadow`` (and ``live`` with ``switch``); see the module doc."""

    def __init__(
        self,
        pool: ConnectionPool,
        store: EventStore,
        *,
        batch_size: int = DEFAULT_BATCH_SIZE,
        partitions: int = 1,
        catch_up_distance: int | None = None,
        on_progress: ProgressListener | None = None,
        stop: threading.Event | None = None,
    ) -> None:
        self.pool = pool
        self.store = store
        self.generations = Generations(pool)
        self.batch_size = batch_size
        self.partitions = partitions
        self.catch_up_distance = batch_size if catch_up_distance is None else catch_up_distance
        self.on_progress = on_progress or (lambda _progress: None)
        self.stop = stop or threading.Event()

    def start(self, projection: str, rules_versions: dict[str, int] | None) -> Generation:
        """A running rebuild of ``projection`` resumed, or a new one: under ``rules_versions``
        (workspace -> version), else under the live generation's rules."""
        spec = rebuildable(projection)
        running = self.generations.building(spec.name)
        if running is not None:
            # The running one was made under the live rules with these laid over them: the
            # same request again names only its own workspaces' versions.
            asked = rules_versions or {}
            if any(running.rules_versions.get(ws) != v for ws, v in asked.items()):
                raise GenerationRefused(
                    f"generation {running.generation} of {spec.name} is being built under"
                    f" rules {running.rules_versions}; cancel it first to build under"
                    f" {rules_versions}",
                    field="rules",
                )
            return running
        live = self.generations.live(spec.name)
        wanted = {**live.rules_versions, **(rules_versions or {})}
        workspace_rules(self.store, wanted)  # every version must exist before tables do
        return self.generations.create(spec.name, wanted)

    def run(self, generation: Generation, *, switch: bool = False) -> Generation:
        """Build until caught up; returns the generation as it ended (``shadow``/``live``,
        or still ``building`` when stopped). Raises ``RebuildCancelled``.

        One driver per generation: a session-level advisory lock, held on a connection of its
        own for the whole run, released by PostgreSQL when the process dies."""
        with self.pool.connection() as conn:
            (mine,) = conn.execute(
                "SELECT pg_try_advisory_lock(hashtext(%s))", (generation.key,)
            ).fetchone()
            if not mine:
                raise GenerationRefused(
                    f"{generation.key} is already being rebuilt by another process",
                    field="name",
                )
            try:
                return self._run(generation, switch)
            finally:
                conn.execute("SELECT pg_advisory_unlock(hashtext(%s))", (generation.key,))

    def driven_elsewhere(self, generation: Generation) -> bool:
        """Whether another process holds the generation's driver lock right now."""
        with self.pool.connection() as conn:
            (free,) = conn.execute(
                "SELECT pg_try_advisory_lock(hashtext(%s))", (generation.key,)
            ).fetchone()
            if free:
                conn.execute("SELECT pg_advisory_unlock(hashtext(%s))", (generation.key,))
        return not free

    def _run(self, generation: Generation, switch: bool) -> Generation:
        projection = build(generation, self.store)
        engine = ProjectionEngine(self.pool, [projection], self.store)
        position, done = generation.position, generation.events_done
        started, done_at_start = time.monotonic(), done
        self._with_tables(projection, "defer_indexes")
        with self._batches(generation, engine, projection) as batches:
            while not self.stop.is_set():
                head = self.store.max_position()
                rate = (done - done_at_start) / max(time.monotonic() - started, 1e-6)
                self.on_progress(RebuildProgress(generation.generation, position, head, done, rate))
                if head - position <= self.catch_up_distance:
                    batches.drain()
                    # Before F: building indexes must not hold the switch-over lock.
                    self._with_tables(projection, "restore_indexes")
                    self._catch_up(generation, engine, position, done)
                    if switch:
                        self.generations.switch(generation.projection, generation.generation)
                    break
                progress = partial(_progress_after, head, done, rate)
                last, count = batches.apply_next(position, progress)
                if not count:  # the head moved on, its events not yet readable: look again
                    self.stop.wait(EMPTY_READ_PAUSE)
                position, done = last, done + count
            batches.drain()  # stopped: what was handed out is recorded as applied
        final = self.generations.get(generation.projection, generation.generation)
        if final.status in (SHADOW, LIVE):
            # As recorded: the catch-up (transaction F) applied events ``done`` never saw.
            done = final.events_done
            rate = (done - done_at_start) / max(time.monotonic() - started, 1e-6)
            self.on_progress(
                RebuildProgress(final.generation, final.position, final.position, done, rate)
            )
        return final

    def _with_tables(self, projection: Projection, step: str) -> None:
        """A read model's optional bulk-load step (``defer_indexes`` before its tables are
        loaded, ``restore_indexes`` after), in a transaction of its own; both idempotent, so
        a rebuild resumed after a crash runs them again."""
        method = getattr(projection, step, None)
        if method is not None:
            with self.pool.connection() as conn, conn.transaction(), conn.cursor() as cur:
                method(cur)

    def _batches(
        self, generation: Generation, engine: ProjectionEngine, projection: Projection
    ) -> _InProcess | _InPartitions:
        if self.partitions > 1 and getattr(projection, "order", STREAM_ORDER) == STREAM_ORDER:
            return _InPartitions(self, generation)
        return _InProcess(self, generation, engine)

    def record_progress(self, generation: Generation, after: RebuildProgress) -> None:
        with self.pool.connection() as conn, conn.transaction(), conn.cursor() as cur:
            _lock_building(cur, generation)
            _record_progress(cur, generation, after)

    def _catch_up(
        self, generation: Generation, engine: ProjectionEngine, position: int, done: int
    ) -> None:
        """Transaction F of the module docstring: the rest of the log up to the head read
        under the exclusive switch-over lock, then ``shadow``, atomically."""
        with self.pool.connection() as conn, conn.transaction(), conn.cursor() as cur:
            cur.execute("SELECT pg_advisory_xact_lock(%s)", (SWITCH_LOCK,))
            _lock_building(cur, generation)
            head = self.store.max_position()
            while position < head:
                events = self.store.read_log(position, self.batch_size, up_to=head)
                if not events:
                    break
                engine.apply_within(cur, events, engine.projections)
                position, done = events[-1].position or position, done + len(events)
            cur.execute(
                "UPDATE read_model_generations SET status = %s, position = %s, head = %s,"
                " events_done = %s, updated_at = now() WHERE projection = %s AND generation = %s",
                (SHADOW, head, head, done, generation.projection, generation.generation),
            )
        log.info("rebuild caught up", projection=generation.key, position=head)


def apply_to_building(
    pool: ConnectionPool,
    generation: Generation,
    engine: ProjectionEngine,
    events: Sequence[Envelope],
    *,
    then: Callable[[Cursor], None] | None = None,
    shared: bool = False,
) -> None:
    """``events`` applied to the generation in one transaction, which ``then`` completes (its
    progress), while it is still ``building``. A batch that fails is applied again event by
    event, parking what cannot be applied, and ``then`` runs after it; a failure of the
    database, not of an event (``TRANSIENT``), is the caller's to retry."""
    try:
        with pool.connection() as conn, conn.transaction(), conn.cursor() as cur:
            _lock_building(cur, generation, shared=shared)
            engine.apply_within(cur, events, engine.projections)
            if then is not None:
                then(cur)
    except (RebuildCancelled, *TRANSIENT):
        raise
    except Exception:
        log.exception("batch failed; isolating", after=events[0].position)
        engine.apply_batch(events)
        if then is not None:
            with pool.connection() as conn, conn.transaction(), conn.cursor() as cur:
                _lock_building(cur, generation, shared=shared)
                then(cur)


ATTEMPTS = 5


def retrying(apply: Callable[[], None]) -> None:
    """A batch applied again, after a pause, while the database fails (``TRANSIENT``), up to
    ``ATTEMPTS`` times: the shares of one batch write some rows in common (``asr_metrics``
    groups, the read model's status), so one can be a deadlock's victim, and a server
    restarting is no reason to fail a rebuild either. Still failing, it raises: the rebuild
    stops and resumes from its last batch when run again."""
    for attempt in range(1, ATTEMPTS + 1):
        try:
            return apply()
        except TRANSIENT as error:
            if attempt == ATTEMPTS:
                raise
            log.warning("batch failed; trying it again", attempt=attempt, error=repr(error))
            time.sleep(min(0.2 * 2**attempt, 2.0))


# The progress once a batch is applied, given its last position and its size.
ProgressAfter = Callable[[int, int], RebuildProgress]


def _progress_after(head: int, done: int, rate: float, last: int, count: int) -> RebuildProgress:
    return RebuildProgress(0, last, head, done + count, rate)


class _InProcess:
    """Each batch decoded (read ahead in a thread) and applied in this process, with its
    progress, in one transaction."""

    def __init__(self, rebuild: Rebuild, generation: Generation, engine: ProjectionEngine):
        self.rebuild = rebuild
        self.generation = generation
        self.engine = engine
        self.log = _ReadAhead(rebuild.store.read_log, rebuild.batch_size, _envelope_position)

    def apply_next(self, after: int, progress: ProgressAfter) -> tuple[int, int]:
        """The batch after position ``after`` applied; returns its last position and size."""
        events = self.log.read(after)
        if not events:
            return after, 0
        last = events[-1].position or after
        after_it = progress(last, len(events))
        record = partial(_record_progress, generation=self.generation, progress=after_it)
        pool, generation, engine = self.rebuild.pool, self.generation, self.engine
        retrying(partial(apply_to_building, pool, generation, engine, events, then=record))
        return last, len(events)

    def drain(self) -> None:
        """Nothing: each batch is applied, with its progress, before ``apply_next`` returns."""

    def __enter__(self) -> _InProcess:
        return self

    def __exit__(self, *_exc) -> None:
        self.log.close()


class _InPartitions:
    """Each batch split by stream over ``partitions`` spawned processes, which decode,
    fold and write their share in transactions of their own, at the same time.

    One process on 2 cores spent as much CPU decoding and folding as PostgreSQL spent on
    the writes, and its read-ahead thread decoded under the same GIL. Only for read models
    whose streams are independent (``order = "stream"``): a stream always falls in the same
    partition, so its events are applied in order. Shares take the generation's row
    ``FOR SHARE``, so they do not wait for each other, and a cancel waits for them and is
    seen by the next batch.

    Up to ``BATCHES_IN_FLIGHT`` batches are handed out at once. Each process applies its
    shares in the order it was given them, so a stream's events still apply in order, and
    it goes from one share straight to its next instead of idling until the other
    partition has finished the batch too. A batch's progress is recorded once every share
    of it has committed, batch after batch in order: a crash in between makes a resumed
    rebuild apply the batches after the last recorded one again, and the engine skips what
    was applied (per stream and version)."""

    def __init__(self, rebuild: Rebuild, generation: Generation):
        self.rebuild = rebuild
        self.generation = generation
        read = partial(rebuild.store.read_log_partitioned, partitions=rebuild.partitions)
        self.log = _ReadAhead(read, rebuild.batch_size, _row_position)
        self.processes: list[ProcessPoolExecutor] = []
        self.in_flight: deque[tuple[list[Future], Callable[[], None]]] = deque()

    def apply_next(self, after: int, progress: ProgressAfter) -> tuple[int, int]:
        """The batch after position ``after`` handed out, once fewer than
        ``BATCHES_IN_FLIGHT`` are applying; returns its last position and size."""
        processes = self._started()
        rows = self.log.read(after)
        if not rows:
            return after, 0
        shares: list[list[tuple[bytes, int]]] = [[] for _ in processes]
        for position, partition, state in rows:
            shares[partition].append((state, position))
        applying = [
            process.submit(_apply_share, share)
            for process, share in zip(processes, shares, strict=True)
            if share
        ]
        last = rows[-1][0]
        record = partial(self.rebuild.record_progress, self.generation, progress(last, len(rows)))
        self.in_flight.append((applying, record))
        while len(self.in_flight) >= BATCHES_IN_FLIGHT:
            self._complete_oldest()
        return last, len(rows)

    def drain(self) -> None:
        """Every batch handed out applied, and its progress recorded."""
        while self.in_flight:
            self._complete_oldest()

    def _complete_oldest(self) -> None:
        applying, record = self.in_flight.popleft()
        for share in applying:
            share.result()  # raises what the share raised (RebuildCancelled included)
        retrying(record)

    def _started(self) -> list[ProcessPoolExecutor]:
        """The processes, started at the first batch (a rebuild with none to apply before its
        catch-up starts none), while its rows are read."""
        if not self.processes:
            self.processes = [
                ProcessPoolExecutor(
                    1,
                    mp_context=multiprocessing.get_context("spawn"),
                    initializer=_start_partition,
                    initargs=(self.rebuild.store.url, self.generation),
                )
                for _ in range(self.rebuild.partitions)
            ]
            for process in self.processes:
                process.submit(int)
        return self.processes

    def __enter__(self) -> _InPartitions:
        return self

    def __exit__(self, *_exc) -> None:
        self.log.close()
        for process in self.processes:
            process.shutdown(wait=True, cancel_futures=True)


_PARTITION: tuple[ConnectionPool, Generation, ProjectionEngine] | None = None


def _start_partition(url: str, generation: Generation) -> None:
    global _PARTITION
    exit_with_parent(signal.SIGKILL)  # a killed driver must not leave writers behind
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C stops the driver, which stops these
    settings = get_settings()
    configure_logging(settings.log_level, settings.log_json)
    store = EventStore(url, pool_size=1, group_commit=False)
    pool = create_pool(url, size=2, name="rebuild-partition")
    engine = ProjectionEngine(pool, [build(generation, store)], store)
    _PARTITION = (pool, generation, engine)
    tune_garbage_collection()


def _apply_share(rows: list[tuple[bytes, int]]) -> None:
    """A share of a batch, applied in this partition's process (see ``retrying``)."""
    pool, generation, engine = _PARTITION
    events = [envelope_from_row(state, position) for state, position in rows]
    retrying(partial(apply_to_building, pool, generation, engine, events, shared=True))


def _envelope_position(event: Envelope) -> int | None:
    return event.position


def _row_position(row: tuple[int, int, bytes]) -> int:
    return row[0]


class _ReadAhead:
    """The log in batches, each next one read (and decoded) in a thread of its own while the
    caller applies the current one: reading overlaps the batch's round trips to PostgreSQL
    instead of waiting for them. Only reads; a batch read ahead and not used is dropped."""

    def __init__(
        self,
        read: Callable[[int, int], list],
        batch_size: int,
        position_of: Callable[[Any], int | None],
    ) -> None:
        self._read = read
        self.batch_size = batch_size
        self.position_of = position_of
        self._reader = ThreadPoolExecutor(1, thread_name_prefix="rebuild-read-ahead")
        self._ahead: tuple[int, Future[list]] | None = None

    def read(self, after: int) -> list:
        """The batch after position ``after``: the one read ahead, unless that was read after
        another position or found nothing. A read ahead at the log's end, before the writers
        committed more, finds nothing; used as it was, it handed the rebuild an empty batch
        although the log had since grown past its catch-up distance."""
        items = []
        if self._ahead is not None and self._ahead[0] == after:
            items = self._ahead[1].result()
        if not items:
            items = self._read(after, self.batch_size)
        self._ahead = None
        last = self.position_of(items[-1]) if items else None
        if last is not None:
            self._ahead = (last, self._reader.submit(self._read, last, self.batch_size))
        return items

    def close(self) -> None:
        self._reader.shutdown(wait=True, cancel_futures=True)


def _lock_building(cur: Cursor, generation: Generation, *, shared: bool = False) -> None:
    """Raise ``RebuildCancelled`` unless the generation is ``building``; its row stays locked
    (``FOR UPDATE``, or ``FOR SHARE`` for a partition's share) until the transaction ends."""
    cur.execute(
        _LOCK_SHARED if shared else _LOCK_EXCLUSIVE,
        (generation.projection, generation.generation),
    )
    row = cur.fetchone()
    if row is None or row[0] != BUILDING:
        raise RebuildCancelled(
            f"{generation.key} is {row[0] if row else 'gone'}, no longer building"
        )


_LOCK_EXCLUSIVE = (
    "SELECT status FROM read_model_generations WHERE projection = %s AND generation = %s FOR UPDATE"
)
_LOCK_SHARED = _LOCK_EXCLUSIVE.replace("FOR UPDATE", "FOR SHARE")


def _record_progress(cur: Cursor, generation: Generation, progress: RebuildProgress) -> None:
    cur.execute(
        "UPDATE read_model_generations SET position = %s, events_done = %s,"
        " events_per_second = %s, head = %s, updated_at = now()"
        " WHERE projection = %s AND generation = %s",
        (
            progress.position,
            progress.events_done,
            progress.events_per_second,
            progress.head,
            generation.projection,
            generation.generation,
        ),
    )


class BackgroundRebuilds:
    """Rebuilds running in threads of this process (``POST /v1/projections/{name}/rebuild``)."""

    def __init__(self, pool: ConnectionPool, store: EventStore) -> None:
        self.pool = pool
        self.store = store
        self.stop = threading.Event()
        self._threads: list[threading.Thread] = []

    def start(
        self, projection: str, rules_versions: dict[str, int] | None, *, switch: bool
    ) -> Generation:
        rebuild = Rebuild(self.pool, self.store, stop=self.stop)
        generation = rebuild.start(projection, rules_versions)
        # Refused now, not in the thread after a 202: the caller's switch would be lost.
        if rebuild.driven_elsewhere(generation):
            raise GenerationRefused(
                f"{generation.key} is already being rebuilt by another process (its progress:"
                " GET /v1/projections); switch it in when it is a shadow",
                field="name",
            )
        thread = threading.Thread(
            target=self._run, args=(rebuild, generation, switch), name=f"rebuild-{generation.key}"
        )
        thread.start()
        self._threads.append(thread)
        return generation

    def _run(self, rebuild: Rebuild, generation: Generation, switch: bool) -> None:
        try:
            rebuild.run(generation, switch=switch)
        except (RebuildCancelled, GenerationRefused) as reason:
            log.info("rebuild ended", projection=generation.key, reason=str(reason))
        except Exception:
            log.exception("rebuild failed; `ledger rebuild` resumes it", projection=generation.key)

    def close(self) -> None:
        self.stop.set()
        for thread in self._threads:
            thread.join()
