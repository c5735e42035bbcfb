"""The session list's changes, read off the event log: for one workspace from a position (a
stream catching up), and for every workspace at once (``SessionChangeFeed``, which every open
live stream of an API process shares).

A change is read only once every event at or below its position is applied to the session
list (``api.consistency``): a cursor that followed the raw positions would step over an
event of another partition applied a moment later, and lose it. Below that position the
changes are read off the event log itself (the sessions' events, each session's newest of a
read), not off the engine's per-stream bookkeeping: an index on the bookkeeping's positions,
for this alone, made every one of its updates write two index entries where it now rewrites
its row in place (``projections/sql/engine.sql``).
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING
from uuid import UUID

import orjson
from psycopg import sql
from starlette.concurrency import run_in_threadpool

from infra.event_store import EVENTS_TABLE
from infra.logging import get_logger
from projections.generations import live_table

if TYPE_CHECKING:
    from api.deps import Ledger

log = get_logger(__name__)

PROJECTION = "session_list"
POLL_SECONDS = 0.25
MAX_EVENTS_PER_POLL = 500
# Log positions checked per read: bounds the work when the read model is far behind.
MAX_SCAN_PER_POLL = 10_000
# Reads a stream may fall behind the feed before it is ended (its client reconnects and
# catches up from its Last-Event-ID): a client that stopped reading holds no growing queue.
MAX_QUEUED_READS = 1_000

# The sessions' events in a window of positions (the list's rows say whose they are).
CHANGES_SQL = (
    "SELECT e.originator_id, e.originator_version, e.notification_id, sl.workspace_id"
    f" FROM {EVENTS_TABLE} e"
    " JOIN {sessions} sl ON sl.session_id = e.originator_id"
    " AND (%(workspace)s::text IS NULL OR sl.workspace_id = %(workspace)s)"
    " WHERE e.notification_id > %(after)s AND e.notification_id <= %(upto)s"
    " ORDER BY e.notification_id LIMIT %(limit)s"
)


@dataclass(frozen=True)
class SessionChange:
    session_id: UUID
    version: int
    position: int

    def sse(self) -> bytes:
        data = orjson.dumps(
            {"session_id": self.session_id, "version": self.version, "position": self.position}
        )
        return b"id: %d\nevent: session\ndata: %s\n\n" % (self.position, data)


@dataclass(frozen=True)
class ChangesRead:
    """One read: each workspace's changes, the position read through, and whether more
    changes may be waiting already (a full page)."""

    changes: dict[str, list[SessionChange]]
    through: int
    more: bool


def read_changes(
    ledger: Ledger, after: int, *, workspace_id: str | None = None, until: int | None = None
) -> ChangesRead:
    """The session-list changes after ``after`` (of one workspace, or of all), read no
    further than ``until``."""
    upto = after + MAX_SCAN_PER_POLL if until is None else min(after + MAX_SCAN_PER_POLL, until)
    window = ledger.progress.window(PROJECTION, after=after, upto=upto)
    applied_through = window.applied_through(after, upto)
    with ledger.pool.connection() as conn:
        statement = sql.SQL(CHANGES_SQL).format(
            sessions=sql.Identifier(live_table(conn, PROJECTION))
        )
        params = {
            "workspace": workspace_id,
            "after": after,
            "upto": applied_through,
            "limit": MAX_EVENTS_PER_POLL,
        }
        rows = conn.execute(statement, params).fetchall()
    if len(rows) == MAX_EVENTS_PER_POLL:  # a full page: more may follow at once
        return ChangesRead(newest_per_session(rows), rows[-1][2], True)
    return ChangesRead(newest_per_session(rows), applied_through, False)


def newest_per_session(rows: Iterable[tuple]) -> dict[str, list[SessionChange]]:
    """Per workspace, one change per session, its newest event's, in the order of those
    events."""
    newest: dict[str, dict[UUID, SessionChange]] = defaultdict(dict)
    for session_id, version, position, workspace_id in rows:
        sessions = newest[workspace_id]
        sessions.pop(session_id, None)  # to the end: the order is the newest events'
        sessions[session_id] = SessionChange(session_id, version, position)
    return {workspace: list(sessions.values()) for workspace, sessions in newest.items()}


class SessionChangeFeed:
    """One read of the log every ``POLL_SECONDS`` for all the live streams of this process,
    each handed its workspace's changes. Each stream read the log on its own before: two
    queries every 250 ms for every open console tab, idle or not (~1 % of a core each here).

    The feed reads only while a stream is subscribed, from where the log was applied when
    the first one subscribed. A stream that starts further back (a ``Last-Event-ID``) reads
    the gap itself (``read_changes``) up to the position ``subscribe`` returns."""

    def __init__(self, ledger: Ledger) -> None:
        self.ledger = ledger
        self.through = 0
        self._queues: dict[asyncio.Queue[list[SessionChange]], str] = {}
        self._overflowed: set[asyncio.Queue[list[SessionChange]]] = set()
        self._task: asyncio.Task[None] | None = None
        self._starting = asyncio.Lock()

    async def subscribe(self, workspace_id: str) -> tuple[asyncio.Queue, int]:
        """A queue that receives the workspace's changes after the position returned."""
        async with self._starting:
            if self._task is None:
                head = await run_in_threadpool(self.ledger.store.max_position)
                self.through = await run_in_threadpool(
                    self.ledger.progress.applied_through, PROJECTION, head
                )
                self._task = asyncio.create_task(self._run(), name="session-change-feed")
            queue: asyncio.Queue[list[SessionChange]] = asyncio.Queue(MAX_QUEUED_READS)
            self._queues[queue] = workspace_id
            return queue, self.through

    def unsubscribe(self, queue: asyncio.Queue) -> None:
        self._queues.pop(queue, None)
        self._overflowed.discard(queue)

    def overflowed(self, queue: asyncio.Queue) -> bool:
        return queue in self._overflowed

    async def _run(self) -> None:
        try:
            while self._queues:
                more = await self._read_once()
                if not more:
                    await asyncio.sleep(POLL_SECONDS)
        finally:
            self._task = None  # no await since the last check: a new subscriber restarts it

    async def _read_once(self) -> bool:
        try:
            read = await run_in_threadpool(read_changes, self.ledger, self.through)
        except Exception as error:  # the database away: the streams wait, and so does the feed
            log.warning("session change feed: read failed", error=str(error))
            return False
        # Handed out and advanced in one step of the loop: a stream subscribing meanwhile
        # gets either this read or the position after it, never both or neither.
        for queue, workspace_id in list(self._queues.items()):
            changes = read.changes.get(workspace_id)
            if changes and queue not in self._overflowed:
                try:
                    queue.put_nowait(changes)
                except asyncio.QueueFull:
                    self._overflowed.add(queue)
        self.through = read.through
        return read.more
