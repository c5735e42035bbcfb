"""Replay over HTTP: a session's folded state at any version or point in time, and its
events played back at their original pace (Server-Sent Events)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from datetime import datetime
from typing import Annotated, Any
from uuid import UUID

import orjson
from fastapi import APIRouter, Query, Request
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from api.deps import LedgerDep, Viewer
from api.routes import ERRORS
from api.routes.sessions import own_events
from domain.envelope import Envelope
from domain.replay import history_as_of, replay

router = APIRouter(prefix="/v1/sessions", tags=["sessions"], responses=ERRORS)


class SessionStateAsOf(BaseModel):
    session_id: UUID
    version: int = Field(description="The version the state is folded up to.")
    head_version: int = Field(description="The session's current version.")
    state: dict[str, Any]


@router.get(
    "/{session_id}/state",
    response_model=SessionStateAsOf,
    summary="The session folded from its history, at a version or as known at a time",
)
def state_as_of(
    session_id: UUID,
    ledger: LedgerDep,
    who: Viewer,
    as_of_version: Annotated[int | None, Query(description="Fold events 1..N")] = None,
    as_of: Annotated[datetime | None, Query(description="Fold what was recorded by then")] = None,
) -> SessionStateAsOf:
    events = own_events(ledger, session_id, who)
    prefix = history_as_of(events, version=as_of_version, at=as_of)
    session = replay(session_id, prefix)
    return SessionStateAsOf(
        session_id=session_id,
        version=session.version,
        head_version=events[-1].version,
        state=session.state.model_dump(mode="json"),
    )


# --- paced replay -----------------------------------------------------------------------------

MAX_SPEED = 1000.0
MIN_SPEED = 0.01  # slower, and a 10 s gap would hold the stream for over 16 minutes
# A gap longer than this (the customer left for lunch) plays as this long at speed 1: the
# replay is for watching a conversation unfold, not for waiting through its silences.
MAX_GAP_SECONDS = 10.0


def pause_before(previous: Envelope | None, event: Envelope, speed: float) -> float:
    """Seconds to wait before sending ``event``: the time between the two events as they
    happened (``occurred_at``), capped at ``MAX_GAP_SECONDS``, divided by ``speed``.

    Events are played in stream order; one that happened earlier than its predecessor (a late
    report) follows at once.
    """
    if previous is None:
        return 0.0
    gap = (event.occurred_at - previous.occurred_at).total_seconds()
    return min(max(gap, 0.0), MAX_GAP_SECONDS) / speed


def replay_sse(event: Envelope) -> bytes:
    data = orjson.dumps(event.model_dump(mode="json"))
    return b"id: %d\nevent: %s\ndata: %s\n\n" % (event.version, event.type.encode(), data)


def end_sse(session_id: UUID, events: int) -> bytes:
    data = orjson.dumps({"session_id": session_id, "events": events})
    return b"event: end\ndata: %s\n\n" % data


async def paced(
    request: Request, session_id: UUID, events: Sequence[Envelope], speed: float
) -> AsyncIterator[bytes]:
    previous = None
    for event in events:
        await asyncio.sleep(pause_before(previous, event, speed))
        if await request.is_disconnected():
            return
        yield replay_sse(event)
        previous = event
    yield end_sse(session_id, len(events))


@router.get(
    "/{session_id}/replay",
    summary="The session's events at their original pace, sped up N times (Server-Sent Events)",
    response_class=StreamingResponse,
    responses={
        200: {
            "content": {"text/event-stream": {}},
            "description": "`id: <version>`, `event: <event type>`, `data: <the envelope>`;"
            ' last `event: end`, `data: {"session_id", "events"}`',
        }
    },
)
async def replay_paced(
    session_id: UUID,
    request: Request,
    ledger: LedgerDep,
    who: Viewer,
    speed: Annotated[
        float,
        Query(
            ge=MIN_SPEED,
            le=MAX_SPEED,
            description=f"Divides each gap between events (gaps over {MAX_GAP_SECONDS:g} s"
            f" count as {MAX_GAP_SECONDS:g} s).",
        ),
    ] = 1.0,
) -> StreamingResponse:
    """The events as /history has them, each sent after the time that passed between it and
    the one before, divided by ``speed``; then ``end``. Close the EventSource on ``end``: it
    would otherwise reconnect and play the session again."""
    events = await run_in_threadpool(own_events, ledger, session_id, who)
    return StreamingResponse(
        paced(request, session_id, events, speed),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )
