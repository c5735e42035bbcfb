"""Live updates: ``GET /v1/sessions/stream`` pushes session-list changes (Server-Sent Events).

Each event names a session, its version and the global position of its newest applied event;
the event id is that position, so a reconnecting client (``Last-Event-ID``) resumes where it
was. The changes are polled off the event log instead of notified, so the engine's
transaction stays untouched; one read every 250 ms serves every open stream of the process
(``api.session_feed``).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import APIRouter, Header, Request
from fastapi.responses import StreamingResponse
from starlette.concurrency import run_in_threadpool

from api.consistency import MAX_POSITION
from api.deps import Ledger, LedgerDep, Viewer, active_key, presented_key
from api.routes import ERRORS
from api.session_feed import (
    MAX_SCAN_PER_POLL,
    POLL_SECONDS,
    PROJECTION,
    SessionChange,
    SessionChangeFeed,
    read_changes,
)

router = APIRouter(prefix="/v1/sessions", tags=["sessions"], responses=ERRORS)

HEARTBEAT_SECONDS = 15.0
RECONNECT_MILLISECONDS = 1000


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
    again every poll (from the key cache, which a revocation empties at once), so a revoked
    key stops watching as its other requests stop, not when the connection drops."""
    yield b"retry: %d\n\n" % RECONNECT_MILLISECONDS
    presented = presented_key(request.headers) or ""
    feed = change_feed(request)
    queue, feed_from = await feed.subscribe(workspace_id)
    reader = _QueueReader(queue)
    try:
        quiet_since = time.monotonic()
        while not await request.is_disconnected():
            if await active_key(ledger.keys, presented) is None:
                yield b"event: unauthenticated\ndata: {}\n\n"
                return
            if feed.overflowed(queue):
                return  # it fell behind the feed: the client reconnects from Last-Event-ID
            if cursor < feed_from:  # catching up: the feed hands out what follows feed_from
                changes, cursor = await _catch_up(ledger, workspace_id, cursor, feed_from)
            else:
                changes = [c for c in await reader.next_within(POLL_SECONDS) if c.position > cursor]
                cursor = changes[-1].position if changes else cursor
            for change in changes:
                yield change.sse()
            if changes:
                quiet_since = time.monotonic()
            elif time.monotonic() - quiet_since > HEARTBEAT_SECONDS:
                yield b": keep-alive\n\n"  # a comment: keeps proxies from closing an idle stream
                quiet_since = time.monotonic()
    finally:
        reader.close()
        feed.unsubscribe(queue)


def change_feed(request: Request) -> SessionChangeFeed:
    """The process's feed, made by the first stream (it needs the running event loop)."""
    state = request.app.state
    if getattr(state, "session_change_feed", None) is None:
        state.session_change_feed = SessionChangeFeed(state.ledger)
    return state.session_change_feed


async def _catch_up(
    ledger: Ledger, workspace_id: str, cursor: int, until: int
) -> tuple[list[SessionChange], int]:
    read = await run_in_threadpool(
        read_changes, ledger, cursor, workspace_id=workspace_id, until=until
    )
    if read.through == cursor:  # nothing applied further yet: wait as the feed would
        await asyncio.sleep(POLL_SECONDS)
    return read.changes.get(workspace_id, []), read.through


class _QueueReader:
    """The feed's reads for one stream, waited for a poll at a time. The pending ``get``
    outlives a wait that timed out (``asyncio.wait_for`` would cancel it, and on Python 3.11
    may drop an item it had already taken)."""

    def __init__(self, queue: asyncio.Queue[list[SessionChange]]) -> None:
        self.queue = queue
        self._getting: asyncio.Task[list[SessionChange]] | None = None

    async def next_within(self, seconds: float) -> list[SessionChange]:
        if self._getting is None:
            self._getting = asyncio.ensure_future(self.queue.get())
        done, _ = await asyncio.wait({self._getting}, timeout=seconds)
        if not done:
            return []
        changes, self._getting = self._getting.result(), None
        return changes

    def close(self) -> None:
        if self._getting is not None:
            self._getting.cancel()


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
