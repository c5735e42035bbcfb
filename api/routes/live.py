"""Live updates: ``GET /v1/sessions/stream`` pushes session-list changes (Server-Sent Events).

Each event names a session, its version and the global position of its newest applied event;
the event id is that position, so a reconnecting client (``Last-Event-ID``) resumes where it
was. The stream polls instead of being notified, so the engine's transaction stays untouched.

A change is sent only once every event at or below its position is applied to the session
list (``api.consistency``): a cursor that followed the raw positions would step over an
event of another partition applied a moment later, and lose it. Below that position the
changes are read off the event log itself (the workspace's sessions' events, each session's
newest of a poll), not off the engine's per-stream bookkeeping: an index on the
bookkeeping's positions, for this alone, made every one of its updates write two index
entries where it now rewrites its row in place (``projections/sql/engine.sql``).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Annotated
from uuid import UUID

import orjson
from fastapi import APIRouter, Header, Request
from fastapi.responses import StreamingResponse
from psycopg import sql
from starlette.concurrency import run_in_threadpool

from api.consistency import MAX_POSITION
from api.deps import Ledger, LedgerDep, Viewer, active_key, presented_key
from api.routes import ERRORS
from infra.event_store import EVENTS_TABLE
from projections.generations import live_table

router = APIRouter(prefix="/v1/sessions", tags=["sessions"], responses=ERRORS)

PROJECTION = "session_list"
POLL_SECONDS = 0.25
HEARTBEAT_SECONDS = 15.0
RECONNECT_MILLISECONDS = 1000
MAX_EVENTS_PER_POLL = 500
# Log positions checked per poll: bounds the work when the read model is far behind.
MAX_SCAN_PER_POLL = 10_000

# The workspace's sessions' events in a window of positions (the list's rows say whose they are).
CHANGES_SQL = (
    "SELECT e.originator_id, e.originator_version, e.notification_id"
    f" FROM {EVENTS_TABLE} e"
    " JOIN {sessions} sl ON sl.session_id = e.originator_id AND sl.workspace_id = %s"
    " WHERE e.notification_id > %s AND e.notification_id <= %s"
    " ORDER BY e.notification_id LIMIT %s"
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


def changes_after(
    ledger: Ledger, workspace_id: str, cursor: int
) -> tuple[list[SessionChange], int, bool]:
    """The workspace's session-list changes after ``cursor``, the cursor to poll next, and
    whether more changes may be waiting already."""
    upto = cursor + MAX_SCAN_PER_POLL
    window = ledger.progress.window(PROJECTION, after=cursor, upto=upto)
    applied_through = window.applied_through(cursor, upto)
    with ledger.pool.connection() as conn:
        statement = sql.SQL(CHANGES_SQL).format(
            sessions=sql.Identifier(live_table(conn, PROJECTION))
        )
        rows = conn.execute(
            statement, (workspace_id, cursor, applied_through, MAX_EVENTS_PER_POLL)
        ).fetchall()
    if len(rows) == MAX_EVENTS_PER_POLL:  # a full page: more may follow at once
        return newest_per_session(rows), rows[-1][2], True
    return newest_per_session(rows), applied_through, False


def newest_per_session(rows) -> list[SessionChange]:
    """One change per session, its newest event's, in the order of those events."""
    newest: dict[UUID, SessionChange] = {}
    for session_id, version, position in rows:
        newest.pop(session_id, None)  # to the end: the order is the newest events'
        newest[session_id] = SessionChange(session_id, version, position)
    return list(newest.values())


def start_cursor(ledger: Ledger, last_event_id: str | None) -> int:
    """Where the stream starts: after the position the client was sent last, unless the
    ledger has no such position (a tab kept from before the database was reset: it would
    wait, silent, until the ledger grew past it); then, like a new client, from now."""
    head = ledger.store.max_position()
    resume_after = resumed_position(last_event_id)
    if resume_after is not None and resume_after <= head:
        return resume_after
    # From now on: everything the session list applied up to the ledger's head is history.
    return ledger.progress.applied_through(PROJECTION, head)


def resumed_position(last_event_id: str | None) -> int | None:
    """The position a reconnecting client was sent last, or None when the header holds no
    position this stream could have sent: such a client starts from now, like a new one.

    ASCII digits only (``str.isdigit`` takes "²", which ``int`` refuses), and low enough
    that a poll's window, ``MAX_SCAN_PER_POLL`` past it, is still a bigint: the polls run
    after the answer started, where a failing statement could only cut the stream."""
    if not (last_event_id and last_event_id.isascii() and last_event_id.isdigit()):
        return None
    if len(last_event_id) > len(str(MAX_POSITION)):  # int() refuses very long digit strings
        return None
    position = int(last_event_id)
    return position if position <= MAX_POSITION - MAX_SCAN_PER_POLL else None


async def session_changes(
    request: Request, ledger: Ledger, workspace_id: str, cursor: int
) -> AsyncIterator[bytes]:
    """The stream's lines, until the client goes or its key is revoked: the key is checked
    again before each poll (from the key cache, which a revocation empties at once), so a
    revoked key stops watching as its other requests stop, not when the connection drops."""
    yield b"retry: %d\n\n" % RECONNECT_MILLISECONDS
    presented = presented_key(request.headers) or ""
    quiet_since = time.monotonic()
    while not await request.is_disconnected():
        if await active_key(ledger.keys, presented) is None:
            yield b"event: unauthenticated\ndata: {}\n\n"
            return
        changes, cursor, more = await run_in_threadpool(changes_after, ledger, workspace_id, cursor)
        for change in changes:
            yield change.sse()
        if changes:
            quiet_since = time.monotonic()
        elif time.monotonic() - quiet_since > HEARTBEAT_SECONDS:
            yield b": keep-alive\n\n"  # a comment: keeps proxies from closing an idle stream
            quiet_since = time.monotonic()
        if not more:
            await asyncio.sleep(POLL_SECONDS)


@router.get(
    "/stream",
    summary="Session-list changes as they are projected (Server-Sent Events)",
    response_class=StreamingResponse,
    responses={
        200: {
            "content": {"text/event-stream": {}},
            "description": "`event: session`, `id: <position>`, "
            '`data: {"session_id", "version", "position"}`; once the key is revoked, '
            "`event: unauthenticated` and the end of the stream",
        }
    },
)
async def stream_session_changes(
    request: Request,
    ledger: LedgerDep,
    who: Viewer,
    last_event_id: Annotated[
        str | None, Header(description="Resume after this position (sent by EventSource).")
    ] = None,
) -> StreamingResponse:
    cursor = await run_in_threadpool(start_cursor, ledger, last_event_id)
    return StreamingResponse(
        session_changes(request, ledger, who.workspace_id, cursor),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )
