"""The event store: the system of record, on eventsourcing's PostgreSQL application recorder.

eventsourcing gives us the stored-events table with per-stream optimistic concurrency
(primary key on stream id and version), a gap-free global order (the notification id, here
called *position*) and LISTEN/NOTIFY on append. We add, in the same transaction, a table of
event ids so that a client retrying with the same event id stores the event once.

The stored ``state`` bytes are the envelope's JSON document exactly as sealed; ``topic`` holds
the event type name. Reading never rewrites them: upcasting happens in ``domain.events``.
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import contextmanager
from typing import Any
from uuid import UUID

from eventsourcing.persistence import IntegrityError, StoredEvent
from eventsourcing.postgres import PostgresApplicationRecorder, PostgresDatastore
from psycopg.rows import tuple_row

from domain.envelope import Envelope, decode_document, encode_document, sealed_document
from infra.database import apply_schema, datastore_kwargs, schema_lock, sql_file
from infra.group_commit import GroupCommitter

EVENTS_TABLE = "stored_events"
EVENT_IDS_CONSTRAINT = "ledger_event_ids_pkey"


# An empty list of types: every type.
_READ_LOG = (
    f"SELECT state, notification_id FROM {EVENTS_TABLE}"
    " WHERE notification_id > %(after)s AND notification_id <= %(upper)s"
    " AND (cardinality(%(types)s::text[]) = 0 OR topic = ANY(%(types)s::text[]))"
    " ORDER BY notification_id LIMIT %(limit)s"
)


class StreamVersionTaken(Exception):
    """Another writer appended to the stream first (the version is no longer free)."""


class EventIdTaken(Exception):
    """An event id in the append is already stored."""


class LedgerRecorder(PostgresApplicationRecorder):
    """eventsourcing's recorder, plus, in the same transaction: the event ids (so a retried
    event is stored once) and each stream's head (so a deleted newest event is detectable).

    Both are written after the recorder took its table lock, so concurrent appends cannot
    deadlock on them.
    """

    insert_event_ids = (
        "INSERT INTO ledger_event_ids (event_id, stream_id, version) VALUES (%s, %s, %s)"
    )
    upsert_heads = (
        "INSERT INTO stream_heads (stream_id, version, hash) VALUES (%s, %s, %s)"
        " ON CONFLICT (stream_id) DO UPDATE SET version = EXCLUDED.version, hash = EXCLUDED.hash"
    )

    def _insert_stored_events(self, curs, stored_events: Sequence[StoredEvent], **kwargs: Any):
        super()._insert_stored_events(curs, stored_events, **kwargs)
        # Another cursor: the recorder reads the positions from ``curs`` afterwards.
        with curs.connection.cursor() as extra:
            extra.executemany(self.insert_event_ids, kwargs.get("event_ids") or ())
            extra.executemany(self.upsert_heads, kwargs.get("heads") or ())


def envelope_from_row(state: bytes, position: int) -> Envelope:
    return Envelope.model_validate({**decode_document(bytes(state)), "position": position})


class EventStore:
    """``group_commit`` (the default) lets concurrent appends share transactions."""

    def __init__(self, url: str, *, pool_size: int = 8, group_commit: bool = True) -> None:
        self.url = url
        self._committer = (
            GroupCommitter(self._append_now, conflicts=(StreamVersionTaken, EventIdTaken))
            if group_commit
            else None
        )
        self.datastore = PostgresDatastore(
            **datastore_kwargs(url), pool_size=pool_size, max_overflow=pool_size
        )
        self.recorder = LedgerRecorder(self.datastore, events_table_name=EVENTS_TABLE)

    def create_schema(self) -> None:
        with schema_lock(self.url):
            self.recorder.create_table()
            apply_schema(
                self.url,
                [sql_file("infra", "ledger.sql"), sql_file("infra", "auth.sql")],
                locked=True,
            )

    def close(self) -> None:
        if self._committer is not None:
            self._committer.close()
        self.datastore.close()

    # --- writing ------------------------------------------------------------------------------

    def append(self, envelopes: Sequence[Envelope]) -> list[int]:
        """Store sealed envelopes atomically; return their global positions, in order."""
        if self._committer is not None:
            return self._committer.append(envelopes)
        return self._append_now(envelopes)

    def _append_now(self, envelopes: Sequence[Envelope]) -> list[int]:
        documents = [sealed_document(e) for e in envelopes]
        unsealed = [e.event_id for e, d in zip(envelopes, documents, strict=True) if d is None]
        if unsealed:
            # Storing bytes its hash does not cover would plant a false tampering report.
            raise ValueError(f"envelopes whose hash does not cover their content: {unsealed}")
        stored = [
            StoredEvent(
                originator_id=e.stream_id,
                originator_version=e.version,
                topic=e.type,
                state=encode_document(document),
            )
            for e, document in zip(envelopes, documents, strict=True)
        ]
        event_ids = [(e.event_id, e.stream_id, e.version) for e in envelopes]
        heads = {e.stream_id: (e.stream_id, e.version, e.hash) for e in envelopes}
        try:
            positions = self.recorder.insert_events(
                stored, event_ids=event_ids, heads=sorted(heads.values())
            )
        except IntegrityError as error:
            if _violated_constraint(error) == EVENT_IDS_CONSTRAINT:
                raise EventIdTaken(str(error)) from error
            raise StreamVersionTaken(str(error)) from error
        return list(positions or [])

    # --- reading ------------------------------------------------------------------------------

    def read_stream(
        self, stream_id: UUID, *, after_version: int = 0, to_version: int | None = None
    ) -> list[Envelope]:
        query = (
            f"SELECT state, notification_id FROM {EVENTS_TABLE} "
            "WHERE originator_id = %s AND originator_version > %s AND originator_version <= %s "
            "ORDER BY originator_version"
        )
        upper = to_version if to_version is not None else 2**62
        with self._cursor() as cur:
            cur.execute(query, (stream_id, after_version, upper), prepare=True)
            return [envelope_from_row(r["state"], r["notification_id"]) for r in cur.fetchall()]

    def read_log(
        self,
        after_position: int,
        limit: int,
        *,
        up_to: int | None = None,
        types: Sequence[str] = (),
    ) -> list[Envelope]:
        """Events in global order after a position (the notification log), optionally only
        up to a position and only of some types.

        The same rows as the recorder's ``select_notifications``, as plain tuples of the two
        columns an envelope needs: rebuilds read the whole log through here."""
        upper = up_to if up_to is not None else 2**62
        with self._cursor(row_factory=tuple_row) as cur:
            params = {"after": after_position, "upper": upper, "types": list(types), "limit": limit}
            cur.execute(_READ_LOG, params, prepare=True)
            return [envelope_from_row(state, position) for state, position in cur.fetchall()]

    def read_raw_log(self, after_position: int, limit: int):
        """Raw notifications (position, stream id, type, stored bytes) for relaying as-is."""
        return self.recorder.select_notifications(start=after_position + 1, limit=limit)

    def find_events(self, event_ids: Sequence[UUID]) -> dict[UUID, Envelope]:
        if not event_ids:
            return {}
        query = (
            f"SELECT e.event_id, s.state, s.notification_id FROM ledger_event_ids e "
            f"JOIN {EVENTS_TABLE} s ON s.originator_id = e.stream_id "
            "AND s.originator_version = e.version WHERE e.event_id = ANY(%s)"
        )
        with self._cursor() as cur:
            cur.execute(query, (list(event_ids),))
            return {
                r["event_id"]: envelope_from_row(r["state"], r["notification_id"])
                for r in cur.fetchall()
            }

    def max_position(self) -> int:
        return self.recorder.max_notification_id() or 0

    @contextmanager
    def _cursor(self, row_factory=None):
        with self.datastore.get_connection() as conn, conn.cursor(row_factory=row_factory) as cur:
            yield cur


def _violated_constraint(error: IntegrityError) -> str | None:
    cause = error.__cause__
    diag = getattr(cause, "diag", None)
    return getattr(diag, "constraint_name", None)


__all__ = ["EventIdTaken", "EventStore", "StreamVersionTaken"]
