"""Live updates: ``GET /v1/sessions/stream`` pushes session-list changes (Server-Sent Events).

Each event names a session, its version and the global position of its newest applied event;
the event id is that position, so a reconnecting client (``Last-Event-ID``) resumes where it
was. The stream polls the projection engine's bookkeeping (``projection_streams``) instead of
being notified, so the engine's transaction stays untouched.

A change is sent only once every event at or below its position is applied to the session
list (``api.consistency``): a cursor that followed the raw positions would step over an
event of another partition applied a moment later, and lose it.
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
from starlette.concurrency import run_in_threadpool

from api.deps import Ledger, LedgerDep, Viewer
from api.routes import ERRORS

router = APIRouter(prefix="/v1/sessions", tags=["sessions"], responses=ERRORS)

PROJECTION = "session_list"
POLL_SECONDS = 0.25
HEARTBEAT_SECONDS = 15.0
RECONNECT_MILLISECONDS = 1000
MAX_CHANGES_PER_POLL = 500
# Log positions checked per poll: bounds the work when the read model is far behind.
MAX_SCAN_PER_POLL = 10_000

CHANGES_SQL = (
    "SELECT ps.stream_id, ps.version, ps.position FROM projection_streams ps"
    " JOIN session_list sl ON sl.session_id = ps.stream_id AND sl.workspace_id = %s"
    " WHERE ps.projection = %s AND ps.position > %s AND ps.position <= %s"
    " ORDER BY ps.position LIMIT %s"
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
) -> tuple[list[SessionChange], int]:
    """The workspace's session-list changes after ``cursor``, and the cursor to poll next."""
    upto = cursor + MAX_SCAN_PER_POLL
    window = ledger.progress.window(PROJECTION, after=cursor, upto=upto)
    applied_through = window.applied_through(cursor, upto)
    with ledger.pool.connection() as conn:
        rows = conn.execute(
            CHANGES_SQL, (workspace_id, PROJECTION, cursor, applied_through, MAX_CHANGES_PER_POLL)
        ).fetchall()
    changes = [SessionChange(*row) for row in rows]
    full = len(changes) == MAX_CHANGES_PER_POLL
    return changes, changes[-1].position if full else applied_through


def start_cursor(ledger: Ledger, last_event_id: str | None) -> int:
    if last_event_id and last_event_id.isdigit():
        return int(last_event_id)
    # From now on: everything the session list applied up to the ledger's head is history.
    return ledger.progress.applied_through(PROJECTION, ledger.store.max_position())


async def session_changes(
    request: Request, ledger: Ledger, workspace_id: str, cursor: int
) -> AsyncIterator[bytes]:
    yield b"retry: %d\n\n" % RECONNECT_MILLISECONDS
    quiet_since = time.monotonic()
    while not await request.is_disconnected():
        changes, cursor = await run_in_threadpool(changes_after, ledger, workspace_id, cursor)
        for change in changes:
            yield change.sse()
        if changes:
            quiet_since = time.monotonic()
        elif time.monotonic() - quiet_since > HEARTBEAT_SECONDS:
            yield b": keep-alive\n\n"  # a comment: keeps proxies from closing an idle stream
            quiet_since = time.monotonic()
        if len(changes) < MAX_CHANGES_PER_POLL:
            await asyncio.sleep(POLL_SECONDS)


@router.get(
    "/stream",
    summary="Session-list changes as they are projected (Server-Sent Events)",
    response_class=StreamingResponse,
    responses={
        200: {
            "content": {"text/event-stream": {}},
            "description": "`event: session`, `id: <position>`, "
            '`data: {"session_id", "version", "position"}`',
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
