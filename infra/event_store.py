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
from concurrent.futures import Future
from contextlib import contextmanager
from typing import Any, NamedTuple
from uuid import UUID

from eventsourcing.persistence import IntegrityError, StoredEvent
from eventsourcing.postgres import PostgresApplicationRecorder, PostgresDatastore
from psycopg.rows import tuple_row
from psycopg.sql import SQL, Identifier

from domain.envelope import Envelope, sealed_bytes
from infra.database import apply_schema, datastore_kwargs, schema_lock, sql_file
from infra.group_commit import GroupCommitter

EVENTS_TABLE = "stored_events"
# pg_advisory_xact_lock(class, key) class of the appends to the events table: "ap" in ASCII.
APPEND_LOCK_CLASS = 0x6170
EVENT_IDS_CONSTRAINT = "ledger_event_ids_pkey"


def read_log_statement(
    after_position: int, limit: int, *, up_to: int | None = None, types: Sequence[str] = ()
) -> tuple[str, dict[str, Any]]:
    """The query ``EventStore.read_log`` sends, and its parameters.

    Only the conditions a call needs are in the text. With "no bound" and "no types" passed as
    parameter values instead, the planner estimated a few thousand rows after the position
    and sorted every row after it rather than walking the index for ``limit`` of them
    (measured on a 100,000-event log: 121 ms against 4 ms per 5,000 rows, and the sort grows
    with the log). A read ``up_to`` a position may still be sorted before statistics exist,
    but only over the range it asked for (a log-ordered read model's batch, a catch-up)."""
    query = (
        f"SELECT state, notification_id FROM {EVENTS_TABLE} WHERE notification_id > %(after)s"
        + (" AND notification_id <= %(upper)s" if up_to is not None else "")
        + (" AND topic = ANY(%(types)s::text[])" if types else "")
        + " ORDER BY notification_id LIMIT %(limit)s"
    )
    return query, {"after": after_position, "upper": up_to, "types": list(types), "limit": limit}


_READ_LOG_PARTITIONED = (
    "SELECT notification_id, (hashtext(originator_id::text) & 2147483647) %% %(partitions)s,"
    f" state FROM {EVENTS_TABLE} WHERE notification_id > %(after)s"
    " ORDER BY notification_id LIMIT %(limit)s"
)


class StreamVersionTaken(Exception):
    """Another writer appended to the stream first (the version is no longer free)."""


class EventIdTaken(Exception):
    """An event id in the append is already stored."""


class Row(NamedTuple):
    """One event as it is written: ``stored_events``' columns, its event id and its hash."""

    stream_id: UUID
    version: int
    type: str
    state: bytes
    event_id: UUID
    hash: str


class LedgerRecorder(PostgresApplicationRecorder):
    """eventsourcing's recorder, plus, in the same transaction: the event ids (so a retried
    event is stored once) and each stream's head (so a deleted newest event is detectable).

    Both are written after the recorder took its table lock, so concurrent appends cannot
    deadlock on them. The events go in as one array per column in binary: eventsourcing's
    own insert sends one array of a composite type, which psycopg can only dump as text
    (every state escaped), ~12 % of the API's CPU under batched ingest.
    """

    insert_event_ids = (
        "INSERT INTO ledger_event_ids (event_id, stream_id, version)"
        " SELECT * FROM unnest(%b::uuid[], %b::uuid[], %b::bigint[])"
    )
    upsert_heads = (
        "INSERT INTO stream_heads (stream_id, version, hash)"
        " SELECT * FROM unnest(%b::uuid[], %b::bigint[], %b::text[])"
        " ON CONFLICT (stream_id) DO UPDATE SET version = EXCLUDED.version, hash = EXCLUDED.hash"
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # eventsourcing serialises appends with LOCK TABLE ... IN EXCLUSIVE MODE, so that
        # each transaction takes all its positions and commits before the next takes any
        # (a reader tailing the log never passes a position that is filled in later). That
        # mode also conflicts with the SHARE UPDATE EXCLUSIVE lock VACUUM holds: while
        # autovacuum visited the events table every append waited until PostgreSQL
        # cancelled the vacuum, deadlock_timeout (1 s) later (seen from pg_stat_activity
        # during the freshness benchmark: appends waiting 1.00 s on the lock). A
        # transaction-scoped advisory lock serialises the appends the same way and waits for
        # nothing else; every writer of the table is this recorder.
        self.lock_table_statements = [
            *self.lock_table_statements[:-1],  # SET LOCAL lock_timeout
            SQL("SELECT pg_advisory_xact_lock({0}, hashtext({1}))").format(
                APPEND_LOCK_CLASS, self.events_table_name
            ),
        ]
        self.insert_columns = SQL(
            "INSERT INTO {schema}.{table} (originator_id, originator_version, topic, state)"
            " SELECT * FROM unnest(%b::uuid[], %b::bigint[], %b::text[], %b::bytea[])"
            " RETURNING notification_id"
        ).format(schema=Identifier(self.datastore.schema), table=Identifier(self.events_table_name))

    def _insert_stored_events(self, curs, stored_events: Sequence[StoredEvent], **kwargs: Any):
        rows: Sequence[Row] = kwargs["rows"]
        self._lock_table(curs)
        self._notify_channel(curs)
        columns = ([r.stream_id for r in rows], [r.version for r in rows])
        # prepare=False: psycopg would prepare a statement on its 5th use, and when the
        # pipeline fails before it (a taken version) the server skips the PREPARE while
        # psycopg counts it as made; the next use of it is then an error.
        curs.execute(
            self.insert_columns,
            (*columns, [r.type for r in rows], [r.state for r in rows]),
            prepare=False,
        )
        # Another cursor: the recorder reads the positions from ``curs`` afterwards.
        with curs.connection.cursor() as extra:
            event_ids = ([r.event_id for r in rows], *columns)
            extra.execute(self.insert_event_ids, event_ids, prepare=False)
            extra.execute(self.upsert_heads, _heads(rows), prepare=False)


def _heads(rows: Sequence[Row]) -> tuple[list, list, list]:
    """Each stream's newest row, as the columns of ``stream_heads``, in stream order."""
    newest = {r.stream_id: r for r in sorted(rows, key=lambda r: r.version)}
    heads = [newest[stream_id] for stream_id in sorted(newest)]
    return [r.stream_id for r in heads], [r.version for r in heads], [r.hash for r in heads]


def envelope_from_row(state: bytes, position: int) -> Envelope:
    return Envelope.from_stored(bytes(state), position)


class EventStore:
    """``group_commit`` (the default) lets concurrent appends share transactions."""

    def __init__(self, url: str, *, pool_size: int = 8, group_commit: bool = True) -> None:
        self.url = url
        self._committer = (
            GroupCommitter(self._write, conflicts=(StreamVersionTaken, EventIdTaken))
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
        # Encoded here, in the caller's thread: the group committer's one thread would
        # otherwise encode every request's events between the commits it serialises.
        rows = _rows(envelopes)
        if self._committer is not None:
            return self._committer.append(rows)
        return self._write(rows)

    @property
    def commits_in_groups(self) -> bool:
        return self._committer is not None

    def append_later(self, envelopes: Sequence[Envelope]) -> Future:
        """``append`` handed to the group committer without waiting: the future of the
        positions. Only with group commit (``commits_in_groups``)."""
        if self._committer is None:
            raise RuntimeError("append_later needs group commit")
        return self._committer.submit(_rows(envelopes))

    def _write(self, rows: Sequence[Row]) -> list[int]:
        # The recorder only counts the StoredEvents; LedgerRecorder writes ``rows``.
        stored = [StoredEvent(r.stream_id, r.version, r.type, r.state) for r in rows]
        try:
            positions = self.recorder.insert_events(stored, rows=rows)
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
        query, params = read_log_statement(after_position, limit, up_to=up_to, types=types)
        with self._cursor(row_factory=tuple_row) as cur:
            cur.execute(query, params, prepare=True)
            return [envelope_from_row(state, position) for state, position in cur.fetchall()]

    def read_log_partitioned(
        self, after_position: int, limit: int, partitions: int
    ) -> list[tuple[int, int, bytes]]:
        """The log after a position as undecoded rows (position, partition, stored bytes),
        each with the partition of ``partitions`` its stream falls in (a hash of its id, so
        each stream always falls in the same one): a partitioned rebuild hands the rows to
        its processes, which decode them."""
        with self._cursor(row_factory=tuple_row) as cur:
            cur.execute(
                _READ_LOG_PARTITIONED,
                {"after": after_position, "limit": limit, "partitions": partitions},
                prepare=True,
            )
            return cur.fetchall()

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


def _rows(envelopes: Sequence[Envelope]) -> list[Row]:
    states = [sealed_bytes(e) for e in envelopes]
    unsealed = [e.event_id for e, state in zip(envelopes, states, strict=True) if state is None]
    if unsealed:
        # Storing bytes its hash does not cover would plant a false tampering report.
        raise ValueError(f"envelopes whose hash does not cover their content: {unsealed}")
    return [
        Row(e.stream_id, e.version, e.type, state, e.event_id, e.hash)
        for e, state in zip(envelopes, states, strict=True)
    ]


def _violated_constraint(error: IntegrityError) -> str | None:
    cause = error.__cause__
    diag = getattr(cause, "diag", None)
    return getattr(diag, "constraint_name", None)


__all__ = ["EventIdTaken", "EventStore", "StreamVersionTaken"]
