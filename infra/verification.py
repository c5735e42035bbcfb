"""Recompute the ledger's hash chains from the stored bytes and report every breach.

Streams are read in (stream, version) order and merged with their recorded heads, the
global chain in position order and compared with the relay's checkpoints and the chain head
it recorded with its position: two passes with server-side cursors, so memory stays flat
however large the ledger is. Verifying one session checks the global chain as well: only it
catches a stream re-sealed whole, head included.

Every attestation lives in the same database as the events, so someone who can write there
and recomputes every chain, checkpoint and the relay's row leaves no trace here; the topic the
relay published to holds the events' bytes as they were, outside the database.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from uuid import UUID

import orjson
import psycopg

from domain.integrity import GLOBAL_GENESIS, Breach, next_global_hash, verify_stream
from infra.event_store import EVENTS_TABLE
from infra.logging import get_logger

log = get_logger("infra.verification")
FETCH = 5000


@dataclass
class VerificationReport:
    streams: int = 0
    events: int = 0
    checkpoints: int = 0
    breaches: list[Breach] = field(default_factory=list)
    seconds: float = 0.0
    # The log's newest position, and the newest one a checkpoint attests: events after it
    # are checked in their streams only, until the relay publishes them.
    head: int = 0
    chain_attested_through: int = 0
    # With one stream verified: its workspace as its first intact event attests it.
    workspace_id: str | None = None

    @property
    def ok(self) -> bool:
        return not self.breaches


def verify_ledger(url: str, *, stream_id: UUID | None = None) -> VerificationReport:
    started = time.monotonic()
    report = VerificationReport()
    with psycopg.connect(url) as conn:
        _verify_streams(conn, report, stream_id)
        _verify_global_chain(conn, report)
        (report.head,) = conn.execute(
            f"SELECT coalesce(max(notification_id), 0) FROM {EVENTS_TABLE}"
        ).fetchone()
    report.seconds = round(time.monotonic() - started, 3)
    return report


# --- streams ----------------------------------------------------------------------------------


def _verify_streams(conn: psycopg.Connection, report: VerificationReport, only: UUID | None):
    params = (only,) if only else ()
    events = _stream_cursor(
        conn,
        "events",
        f"SELECT originator_id, originator_version, state FROM {EVENTS_TABLE}"
        f" {'WHERE originator_id = %s' if only else ''} ORDER BY originator_id, originator_version",
        params,
    )
    heads = _stream_cursor(
        conn,
        "heads",
        "SELECT stream_id, version, hash FROM stream_heads"
        f" {'WHERE stream_id = %s' if only else ''} ORDER BY stream_id",
        params,
    )
    for stream_id, documents, head in _merge(events, heads):
        report.streams += 1
        counted = _counting(documents, report)
        check = verify_stream(str(stream_id), counted, head)
        if check.breach:
            report.breaches.append(check.breach)
        if only:
            report.workspace_id = check.workspace_id
        for _ in counted:  # drain what a breach left unread, so the merge stays aligned
            pass


def _stream_cursor(conn, name: str, query: str, params: tuple) -> Iterator[tuple]:
    with conn.cursor(name=name) as cur:
        cur.itersize = FETCH
        cur.execute(query, params)
        yield from cur


def _merge(events: Iterator[tuple], heads: Iterator[tuple]):
    """Join streams' events with their heads; both inputs are ordered by stream id."""
    grouped = itertools.groupby(events, key=lambda row: row[0])
    stream = next(grouped, None)
    head = next(heads, None)
    while stream is not None or head is not None:
        stream_key = stream[0] if stream else None
        head_key = head[0] if head else None
        if head is None or (stream is not None and stream_key < head_key):
            yield stream_key, _documents(stream[1]), None
            stream = next(grouped, None)
        elif stream is None or head_key < stream_key:
            yield head_key, iter(()), (head[1], head[2])
            head = next(heads, None)
        else:
            yield stream_key, _documents(stream[1]), (head[1], head[2])
            stream, head = next(grouped, None), next(heads, None)


def _documents(rows) -> Iterator[tuple[int, dict]]:
    for _stream_id, version, state in rows:
        yield version, orjson.loads(bytes(state))


def _counting(documents: Iterator[tuple[int, dict]], report: VerificationReport):
    for item in documents:
        report.events += 1
        yield item


# --- global chain -----------------------------------------------------------------------------


def _verify_global_chain(conn: psycopg.Connection, report: VerificationReport) -> None:
    checkpoints = _attested_points(conn)
    if not checkpoints:
        return
    pending = iter(checkpoints)
    checkpoint = next(pending)
    chain, count = GLOBAL_GENESIS, 0
    rows = _stream_cursor(
        conn,
        "log",
        f"SELECT notification_id, state FROM {EVENTS_TABLE} WHERE notification_id <= %s"
        " ORDER BY notification_id",
        (checkpoints[-1][0],),
    )
    for position, state in rows:
        while checkpoint and position > checkpoint[0]:
            if not _checkpoint_holds(checkpoint, chain, count, report):
                return
            checkpoint = next(pending, None)
        chain = next_global_hash(chain, position, orjson.loads(bytes(state))["hash"])
        count += 1
    while checkpoint:
        if not _checkpoint_holds(checkpoint, chain, count, report):
            return
        checkpoint = next(pending, None)


def _attested_points(conn: psycopg.Connection) -> list[tuple[int, str, int]]:
    """The checkpoints and the chain head each relay recorded with its position, in order;
    a point both hold is checked once, two that disagree on a position both."""
    return conn.execute(
        "SELECT position, chain_hash, events FROM ledger_chain_checkpoints"
        " UNION SELECT chain_position, chain_hash, chain_events FROM relay_position"
        " WHERE chain_position IS NOT NULL ORDER BY 1, 2"
    ).fetchall()


def _checkpoint_holds(checkpoint: tuple, chain: str, count: int, report) -> bool:
    position, expected_hash, expected_count = checkpoint
    report.checkpoints += 1
    if chain == expected_hash and count == expected_count:
        report.chain_attested_through = position
        return True
    missing = expected_count - count
    reason = (
        f"the global chain differs at checkpoint {position}"
        + (f": {missing} event(s) missing before it" if missing > 0 else "")
        + (f": {-missing} unexpected event(s) before it" if missing < 0 else "")
    )
    report.breaches.append(Breach(None, None, reason))
    return False


class ChainCheckpointer:
    """Extends the global chain over events in position order and checkpoints it.

    The relay feeds it every event it reads (it is the one sequential reader of the log);
    after a restart it resumes from the last checkpoint, so the chain is always complete.
    """

    def __init__(self, url: str, *, every_events: int = 1000, every_seconds: float = 10.0):
        self.url = url
        self.every_events = every_events
        self.every_seconds = every_seconds
        self.position, self.chain, self.events = self._load()
        self._unsaved = 0
        self._saved_at = time.monotonic()

    def head(self) -> tuple[int, str, int]:
        """Position, chain hash and event count of the chain as far as it was extended."""
        return self.position, self.chain, self.events

    def advance(self, notifications) -> None:
        for notification in notifications:
            if notification.id <= self.position:
                continue  # a republished event: already in the chain
            event_hash = orjson.loads(notification.state)["hash"]
            self.chain = next_global_hash(self.chain, notification.id, event_hash)
            self.position, self.events = notification.id, self.events + 1
            self._unsaved += 1
        due = time.monotonic() - self._saved_at >= self.every_seconds
        if self._unsaved and (self._unsaved >= self.every_events or due):
            self.save()

    def save(self) -> None:
        if not self._unsaved:
            return
        with psycopg.connect(self.url, autocommit=True) as conn:
            conn.execute(
                "INSERT INTO ledger_chain_checkpoints (position, chain_hash, events)"
                " VALUES (%s, %s, %s) ON CONFLICT (position) DO NOTHING",
                (self.position, self.chain, self.events),
            )
        self._unsaved, self._saved_at = 0, time.monotonic()

    def _load(self) -> tuple[int, str, int]:
        with psycopg.connect(self.url) as conn:
            row = conn.execute(
                "SELECT position, chain_hash, events FROM ledger_chain_checkpoints"
                " ORDER BY position DESC LIMIT 1"
            ).fetchone()
        return tuple(row) if row else (0, GLOBAL_GENESIS, 0)
