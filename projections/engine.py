"""Applies batches of events to read models, exactly once per (read model, stream, version).

Both drivers use this: the faust stream processor (batches from Kafka) and rebuilds (batches
from the event store). Per batch there is one transaction, in which each read model's rows
and its per-stream versions change together; so a redelivered event changes nothing, and a
crash between the rows and the bookkeeping cannot happen.
"""

from __future__ import annotations

import traceback
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from importlib import resources
from typing import Protocol
from uuid import UUID

from psycopg import Cursor
from psycopg_pool import ConnectionPool

from domain.envelope import Envelope

# (stream id, after version, up to version) -> the stored events of that range, in order
ReadStream = Callable[..., list[Envelope]]


def schema_sql(name: str) -> str:
    return resources.files("projections").joinpath("sql", name).read_text()


class Projection(Protocol):
    name: str

    def schema(self) -> list[str]: ...

    def apply(self, cur: Cursor, streams: dict[UUID, list[Envelope]]) -> None:
        """Apply contiguous, not yet applied events of each stream."""


class ProjectionEngine:
    def __init__(
        self, pool: ConnectionPool, projections: Sequence[Projection], read_stream: ReadStream
    ) -> None:
        self.pool = pool
        self.projections = list(projections)
        self.read_stream = read_stream

    def apply_batch(self, events: Sequence[Envelope]) -> int:
        """Apply a batch in one transaction; if it fails, isolate and park the culprits."""
        if not events:
            return 0
        try:
            return self._apply(events)
        except Exception:
            return sum(self._apply_or_park(event) for event in events)

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
                " error, raw) VALUES (%s, %s, %s, %s, %s, %s, %s)",
                (
                    projection,
                    event.position if event else position,
                    event.stream_id if event else None,
                    event.version if event else None,
                    event.type if event else None,
                    error,
                    raw,
                ),
            )

    def _apply_or_park(self, event: Envelope) -> int:
        try:
            return self._apply([event])
        except Exception:
            self.park("*", traceback.format_exc(limit=5), event=event)
            return 0

    def _apply(self, events: Sequence[Envelope]) -> int:
        by_stream = _group_by_stream(events)
        applied_total = 0
        with self.pool.connection() as conn, conn.transaction(), conn.cursor() as cur:
            for projection in self.projections:
                applied = _applied_versions(cur, projection.name, list(by_stream))
                todo = {
                    stream_id: pending
                    for stream_id, batch in by_stream.items()
                    if (pending := self._contiguous(stream_id, batch, applied.get(stream_id, 0)))
                }
                if todo:
                    projection.apply(cur, todo)
                    _record_applied(cur, projection.name, todo)
                    applied_total += sum(len(v) for v in todo.values())
        return applied_total

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
        return self.read_stream(stream_id, after_version=applied, to_version=newer[-1].version)


def _group_by_stream(events: Iterable[Envelope]) -> dict[UUID, list[Envelope]]:
    grouped: dict[UUID, list[Envelope]] = defaultdict(list)
    for event in events:
        grouped[event.stream_id].append(event)
    return grouped


def _applied_versions(cur: Cursor, projection: str, stream_ids: list[UUID]) -> dict[UUID, int]:
    cur.execute(
        "SELECT stream_id, version FROM projection_streams"
        " WHERE projection = %s AND stream_id = ANY(%s) FOR UPDATE",
        (projection, stream_ids),
    )
    return {row[0]: row[1] for row in cur.fetchall()}


def _record_applied(cur: Cursor, projection: str, todo: dict[UUID, list[Envelope]]) -> None:
    heads = [(projection, sid, evs[-1].version, evs[-1].position or 0) for sid, evs in todo.items()]
    cur.executemany(
        "INSERT INTO projection_streams (projection, stream_id, version, position)"
        " VALUES (%s, %s, %s, %s) ON CONFLICT (projection, stream_id) DO UPDATE"
        " SET version = EXCLUDED.version, position = EXCLUDED.position",
        heads,
    )
    count = sum(len(evs) for evs in todo.values())
    top = max(position for *_, position in heads)
    cur.execute(
        "INSERT INTO projection_status (projection, position, events_applied) VALUES (%s, %s, %s)"
        " ON CONFLICT (projection) DO UPDATE SET"
        " position = GREATEST(projection_status.position, EXCLUDED.position),"
        " events_applied = projection_status.events_applied + EXCLUDED.events_applied,"
        " updated_at = now()",
        (projection, top, count),
    )
