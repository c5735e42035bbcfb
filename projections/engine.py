"""Applies batches of events to read models, exactly once per (read model, stream, version).

Both drivers use this: the faust stream processor (batches from Kafka) and rebuilds (batches
from the event store). Per batch there is one transaction, in which each read model's rows
and its per-stream versions change together; so a redelivered event changes nothing, and a
crash between the rows and the bookkeeping cannot happen.
"""

from __future__ import annotations

import traceback
from collections import defaultdict
from collections.abc import Iterable, Sequence
from importlib import resources
from typing import Protocol
from uuid import UUID

import psycopg
from eventsourcing.persistence import ConnectionUnavailableError
from eventsourcing.persistence import InterfaceError as StoreInterfaceError
from eventsourcing.persistence import OperationalError as StoreOperationalError
from psycopg import Cursor
from psycopg_pool import ConnectionPool, PoolTimeout

from domain.envelope import Envelope, decode_document
from domain.events import decode_payload, decoding_once
from infra.logging import get_logger
from projections.batch import int_array, text_array, uuid_array

log = get_logger("projections.engine")

# The database, not the event, failed (connection lost, server restarting, deadlock or
# serialization failure): never a reason to park an event. The caller retries the batch.
# The event store's reads (the log-ordered read models') fail with eventsourcing's own types.
TRANSIENT = (
    psycopg.OperationalError,
    psycopg.InterfaceError,
    PoolTimeout,
    StoreOperationalError,
    StoreInterfaceError,
    ConnectionUnavailableError,
)

# Parked before a read model could be told apart (an undecodable message): retried for all.
ANY_PROJECTION = "*"
STREAM_ORDER = "stream"
GLOBAL_ORDER = "global"
LOG_CHUNK = 5000
# The open parked events, of one read model (``p``) and one workspace (``w``) when given.
OPEN_PARKED = (
    "WHERE retried_at IS NULL AND (%(p)s::text IS NULL OR projection = %(p)s)"
    " AND (%(w)s::text IS NULL OR workspace_id = %(w)s)"
)


class EventSource(Protocol):
    """The event store, as the engine reads it to heal gaps and to order across streams."""

    def read_stream(
        self, stream_id: UUID, *, after_version: int = 0, to_version: int | None = None
    ) -> list[Envelope]: ...

    def read_log(
        self, after_position: int, limit: int, *, up_to: int | None = None, types=()
    ) -> list[Envelope]: ...


def schema_sql(name: str) -> str:
    return resources.files("projections").joinpath("sql", name).read_text()


class Projection(Protocol):
    """A read model. ``order`` says what its fold depends on:

    - ``"stream"`` (the default): each stream's events in version order; streams are
      independent, so Kafka's per-key order is enough.
    - ``"global"``: the ledger's total order across streams (e.g. leads, where which session
      claimed an identifier first decides a merge). Kafka interleaves partitions, so such a
      read model is fed from the event store's log instead, from its own position cursor up
      to the batch's newest position, and only with ``event_types`` (empty: all types).

    A fold that needs an event's typed payload calls ``domain.events.decode_payload``: within
    a batch the engine decodes each envelope's payload once for all read models
    (``decoding_once``), so nothing needs passing around. Optional, for rebuilds:
    ``defer_indexes(cur)`` and ``restore_indexes(cur)`` (see ``projections.rebuild``).
    """

    name: str
    order: str

    def schema(self) -> list[str]: ...

    def apply(self, cur: Cursor, streams: dict[UUID, list[Envelope]]) -> None:
        """Apply contiguous, not yet applied events of each stream."""


class ProjectionSet(Protocol):
    """Read models that change while the engine runs (generations switched in by a rebuild).

    ``current`` is called inside each batch's transaction, first, so it may take a lock that
    orders the batch against a switch-over (see ``projections.generations``).
    """

    def current(self, cur: Cursor) -> Sequence[Projection]: ...


class ProjectionEngine:
    def __init__(
        self,
        pool: ConnectionPool,
        projections: Sequence[Projection] | ProjectionSet,
        source: EventSource,
    ) -> None:
        self.pool = pool
        self._projections = projections
        self.source = source

    @property
    def projections(self) -> list[Projection]:
        """The read models a batch would be applied to now."""
        if isinstance(self._projections, Sequence):
            return list(self._projections)
        with self.pool.connection() as conn, conn.transaction(), conn.cursor() as cur:
            return list(self._current(cur))

    def _current(self, cur: Cursor) -> Sequence[Projection]:
        if isinstance(self._projections, Sequence):
            return self._projections
        return self._projections.current(cur)

    def apply_batch(self, events: Sequence[Envelope]) -> int:
        """Apply a batch in one transaction; if it fails, isolate and park the culprits.

        Isolation goes event by event, then read model by read model, so a poison event is
        parked only for the read model that cannot take it; the others move on.
        """
        if not events:
            return 0
        try:
            return self._apply(events)
        except TRANSIENT:
            raise
        except Exception as error:
            # Said once per batch: isolating costs a transaction per event, so an operator
            # seeing throughput drop must be able to find out why.
            log.warning(
                "batch failed; applying its events one by one",
                events=len(events),
                first_position=events[0].position,
                error=repr(error),
            )
            return sum(self._apply_or_park(event) for event in events)

    def apply_within(
        self, cur: Cursor, events: Sequence[Envelope], projections: Sequence[Projection]
    ) -> int:
        """Apply ``events`` to ``projections`` inside the caller's transaction (a rebuild
        commits its own progress with the rows)."""
        by_stream = _group_by_stream(events)
        by_version = [p.name for p in projections if _order(p) == STREAM_ORDER]
        applied_total = 0
        # Every read model that folds an event of the batch shares one decoding of its payload.
        with decoding_once():
            asked = _ask_applied_versions(cur, by_version, list(by_stream))
            _decode_ahead(events)  # while PostgreSQL finds the versions
            applied = _applied_versions(cur, asked)
            # Read models at the same version of a stream (all, mostly) share its pending events.
            pending: dict[tuple[UUID, int], list[Envelope]] = {}
            for projection in _in_pipeline_order(projections):
                books = _Bookkeeping()
                if _order(projection) == GLOBAL_ORDER:
                    applied_total += self._apply_in_log_order(cur, projection, by_stream, books)
                else:
                    versions = applied.get(projection.name, {})
                    applied_total += self._apply_per_stream(
                        cur, projection, by_stream, versions, books, pending
                    )
                books.write(cur)
        return applied_total

    def park(
        self,
        projection: str,
        error: str,
        *,
        event: Envelope | None = None,
        raw: bytes | None = None,
        position: int | None = None,
    ) -> None:
        with self.pool.connection() as conn:
            conn.execute(
                "INSERT INTO parked_events (projection, position, stream_id, version, event_type,"
                " workspace_id, error, raw) VALUES (%s, %s, %s, %s, %s, %s, %s, %s)",
                (
                    projection,
                    event.position if event else position,
                    event.stream_id if event else None,
                    event.version if event else None,
                    event.type if event else None,
                    event.workspace_id if event else None,
                    error,
                    raw,
                ),
            )

    def retry_parked(
        self, projection: str | None = None, *, workspace: str | None = None
    ) -> tuple[int, int]:
        """Apply open parked events again (after a fix); return (applied, still parked).
        ``workspace``: only that workspace's (None: all, undecodable messages included)."""
        with self.pool.connection() as conn:
            rows = conn.execute(
                f"SELECT id, projection, stream_id, version, raw FROM parked_events {OPEN_PARKED}"
                " ORDER BY stream_id, version, id",
                {"p": projection, "w": workspace},
            ).fetchall()
        fixed = [row[0] for row in rows if self._retry(row[1], row[2], row[3], row[4])]
        if fixed:
            with self.pool.connection() as conn:
                conn.execute(
                    "UPDATE parked_events SET retried_at = now() WHERE id = ANY(%s)", (fixed,)
                )
        return len(fixed), len(rows) - len(fixed)

    def _retry(self, projection: str, stream_id, version, raw) -> bool:
        targets = [p for p in self.projections if projection in (p.name, ANY_PROJECTION)]
        try:
            if stream_id is not None:
                events = self.source.read_stream(
                    stream_id, after_version=version - 1, to_version=version
                )
            else:
                events = [Envelope.model_validate(decode_document(bytes(raw)))]
            self._apply(events, targets)
        except Exception:
            return False
        return True

    def _apply_or_park(self, event: Envelope) -> int:
        try:
            return self._apply([event])
        except TRANSIENT:
            raise
        except Exception:
            return sum(self._apply_one_or_park(event, p) for p in self.projections)

    def _apply_one_or_park(self, event: Envelope, projection: Projection) -> int:
        try:
            return self._apply([event], [projection])
        except TRANSIENT:
            raise
        except Exception:
            self.park(projection.name, traceback.format_exc(limit=5), event=event)
            return 0

    def _apply(
        self, events: Sequence[Envelope], projections: Sequence[Projection] | None = None
    ) -> int:
        """One transaction; ``projections`` None: the read models current in it.

        In pipeline mode: a statement whose result nobody reads (every read model's writes,
        the bookkeeping's) is sent without waiting for it, so PostgreSQL runs one read
        model's writes while this process folds the next, and waits happen only where a
        result is read and at the commit. A failing statement still raises its own error
        (at the next read or the commit), so poison events are told from outages as before.
        Measured with the engine alone (three runs each): 7,761-8,878 -> 9,309-11,610
        events/s; the whole worker, where the cores are shared with faust: a median of 6,434
        -> 6,863 events/s."""
        with (
            self.pool.connection() as conn,
            conn.pipeline(),
            conn.transaction(),
            conn.cursor() as cur,
        ):
            targets = self._current(cur) if projections is None else projections
            return self.apply_within(cur, events, targets)

    def _apply_per_stream(
        self,
        cur: Cursor,
        projection: Projection,
        by_stream: dict[UUID, list[Envelope]],
        applied: dict[UUID, int],
        books: _Bookkeeping,
        pending: dict[tuple[UUID, int], list[Envelope]],
    ) -> int:
        todo = {}
        for stream_id, batch in by_stream.items():
            key = (stream_id, applied.get(stream_id, 0))
            events = pending.get(key)
            if events is None:
                events = pending[key] = self._contiguous(stream_id, batch, key[1])
            if events:
                todo[stream_id] = events
        if not todo:
            return 0
        projection.apply(cur, todo)
        return books.add(projection.name, todo)

    def _apply_in_log_order(
        self,
        cur: Cursor,
        projection: Projection,
        by_stream: dict[UUID, list[Envelope]],
        books: _Bookkeeping,
    ) -> int:
        """Everything the log holds between the cursor and the batch's newest position.

        Commits are in position order (the event store's append lock), so once an event at a
        position was delivered, every position below it is committed and readable.
        """
        target = max(e.position or 0 for events in by_stream.values() for e in events)
        cursor = _log_cursor(cur, projection.name)
        log = self._log_between(cursor, target, by_stream, getattr(projection, "event_types", ()))
        if log:
            projection.apply(cur, _group_by_stream(log))
        # The batch's streams count as applied too (the cursor covers them), even when an
        # earlier batch already read past them or this read model does not fold their types.
        seen = _group_by_stream([*log, *(e for evs in by_stream.values() for e in evs)])
        books.add(projection.name, seen, applied=len(log), position=max(target, cursor))
        return len(log)

    def _log_between(
        self, after: int, up_to: int, by_stream: dict[UUID, list[Envelope]], types
    ) -> list[Envelope]:
        """The log's events of ``types`` (all, if none) after ``after`` up to ``up_to``: the
        batch's own when it holds every position in between (one partition, delivered in
        order: the worker's usual batch), else read from the event store. Reading them again
        (and decoding their envelopes and payloads a second time) was 6 % of the worker
        child's py-spy samples."""
        if up_to <= after:
            return []
        delivered = {
            e.position: e
            for events in by_stream.values()
            for e in events
            if e.position is not None and after < e.position <= up_to
        }
        if len(delivered) < up_to - after:
            return self._read_log(after, up_to, types)
        return [
            delivered[position]
            for position in sorted(delivered)
            if not types or delivered[position].type in types
        ]

    def _read_log(self, after: int, up_to: int, types) -> list[Envelope]:
        events: list[Envelope] = []
        while True:
            chunk = self.source.read_log(after, LOG_CHUNK, up_to=up_to, types=types)
            events.extend(chunk)
            if len(chunk) < LOG_CHUNK:
                return events
            after = chunk[-1].position

    def _contiguous(self, stream_id: UUID, batch: list[Envelope], applied: int) -> list[Envelope]:
        """The events after ``applied`` up to the newest in the batch, healing any gap."""
        newer = sorted(
            {e.version: e for e in batch if e.version > applied}.values(), key=lambda e: e.version
        )
        if not newer:
            return []
        expected = list(range(applied + 1, newer[-1].version + 1))
        if [e.version for e in newer] == expected:
            return newer
        return self.source.read_stream(
            stream_id, after_version=applied, to_version=newer[-1].version
        )


def _group_by_stream(events: Iterable[Envelope]) -> dict[UUID, list[Envelope]]:
    grouped: dict[UUID, list[Envelope]] = defaultdict(list)
    for event in events:
        grouped[event.stream_id].append(event)
    return grouped


def _order(projection: Projection) -> str:
    return getattr(projection, "order", STREAM_ORDER)


def _in_pipeline_order(projections: Sequence[Projection]) -> list[Projection]:
    """Log-ordered read models first, the rest as given. In pipeline mode a read waits for
    every write queued before it, and a log-ordered read model reads its cursor and its state
    each batch; after it, the per-stream ones mostly only write, so PostgreSQL runs one's
    writes while this process folds the next (``LiveProjections`` gives the largest first)."""
    return sorted(projections, key=lambda projection: _order(projection) != GLOBAL_ORDER)


# One probe of the primary key per stream of the batch, whatever the statistics say. As
# ``projection = ANY(..) AND stream_id = ANY(..)``, with statistics from when the table was
# small, the planner read every row of the read models and filtered them: a cost that grew
# with the whole log, not the batch (measured with the engine alone, 1,000-event batches of
# 500 interleaved conversations: 9.6 µs/event after 50,000 events and 28 after 150,000; this
# way 5.4 and 6.8).
# The streams are locked in id order, the same order in every worker.
_APPLIED_VERSIONS = """
SELECT ps.projection, ps.stream_id, ps.version
FROM unnest(%s::uuid[]) AS batch(stream_id)
CROSS JOIN LATERAL (
    SELECT projection, stream_id, version FROM projection_streams
    WHERE stream_id = batch.stream_id AND projection = ANY(%s)
    FOR UPDATE
) AS ps
"""


def _ask_applied_versions(cur: Cursor, projections: list[str], stream_ids: list[UUID]) -> bool:
    """Send the query for each read model's applied version of each stream, locked for this
    batch: one query for all read models (a round trip and a statement each cost more than
    their rows). In pipeline mode its answer is read later (``_applied_versions``)."""
    if not projections:
        return False
    cur.execute(_APPLIED_VERSIONS, (uuid_array(sorted(stream_ids)), projections))
    return True


def _decode_ahead(events: Sequence[Envelope]) -> None:
    """Decode the batch's payloads into the ``decoding_once`` scope. A payload that does not
    decode is left for the read models that fold it, each of which then raises for itself
    (and parks it for itself alone)."""
    for event in events:
        try:
            decode_payload(event.type, event.schema_version, event.payload)
        except Exception:  # raised again where it is folded: see above
            continue


def _applied_versions(cur: Cursor, asked: bool) -> dict[str, dict[UUID, int]]:
    if not asked:
        return {}
    applied: dict[str, dict[UUID, int]] = defaultdict(dict)
    for projection, stream_id, version in cur.fetchall():
        applied[projection][stream_id] = version
    return applied


def _log_cursor(cur: Cursor, projection: str) -> int:
    """The position up to which a log-ordered read model has read, locked for this batch."""
    cur.execute(
        "INSERT INTO projection_status (projection) VALUES (%s) ON CONFLICT DO NOTHING",
        (projection,),
    )
    cur.execute(
        "SELECT position FROM projection_status WHERE projection = %s FOR UPDATE", (projection,)
    )
    return cur.fetchone()[0]


# One statement per read model for all the batch's streams (a rebuild's has thousands) and
# its status, sent right after the read model's own writes: in pipeline mode PostgreSQL runs
# it while the next read model folds, instead of after the last one (measured with the engine
# alone: the commit's wait went from 27 to 14-17 ms per 1,000-event batch). The WITH part
# runs although nothing reads its result.
_RECORD_APPLIED = """
WITH streams AS (
    INSERT INTO projection_streams (projection, stream_id, version, position)
    SELECT * FROM unnest(%(projections)s::text[], %(streams)s::uuid[], %(versions)s::bigint[],
                         %(positions)s::bigint[])
    ON CONFLICT (projection, stream_id) DO UPDATE
    SET version = GREATEST(projection_streams.version, EXCLUDED.version),
        position = GREATEST(projection_streams.position, EXCLUDED.position)
)
INSERT INTO projection_status (projection, position, events_applied)
SELECT * FROM unnest(%(names)s::text[], %(tops)s::bigint[], %(counts)s::bigint[])
ON CONFLICT (projection) DO UPDATE SET
    position = GREATEST(projection_status.position, EXCLUDED.position),
    events_applied = projection_status.events_applied + EXCLUDED.events_applied,
    updated_at = now()
"""


class _Bookkeeping:
    """What a batch applied to a read model, per stream: the newest version and position of
    each, and the read model's count and top position, written in one statement."""

    def __init__(self) -> None:
        self.projections: list[str] = []
        self.streams: list[UUID] = []
        self.versions: list[int] = []
        self.positions: list[int] = []
        self.status: dict[str, tuple[int, int]] = {}

    def add(
        self,
        projection: str,
        streams: dict[UUID, list[Envelope]],
        *,
        applied: int | None = None,
        position: int | None = None,
    ) -> int:
        """Record ``streams`` (each stream's events in any order) as applied; returns the
        count: ``applied``, else every event given."""
        top = 0
        for stream_id, events in streams.items():
            newest = max(events, key=_version)
            self.streams.append(stream_id)
            self.versions.append(newest.version)
            self.positions.append(newest.position or 0)
            top = max(top, newest.position or 0)
        count = applied if applied is not None else sum(map(len, streams.values()))
        self.projections.extend([projection] * len(streams))
        self.status[projection] = (position if position is not None else top, count)
        return count

    def write(self, cur: Cursor) -> None:
        if not self.status:
            return
        cur.execute(
            _RECORD_APPLIED,
            {
                "projections": text_array(self.projections),
                "streams": uuid_array(self.streams),
                "versions": int_array(self.versions),
                "positions": int_array(self.positions),
                "names": list(self.status),
                "tops": [top for top, _ in self.status.values()],
                "counts": [count for _, count in self.status.values()],
            },
        )


def _version(event: Envelope) -> int:
    return event.version
