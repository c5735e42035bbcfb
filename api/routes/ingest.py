"""Agent runtimes and channel webhooks: start sessions and append conversation events."""

from __future__ import annotations

from uuid import UUID

from fastapi import APIRouter, Response

from api.auth import check_may_record
from api.commands import AppendResult, NewEvent, new_session_id
from api.deps import Ingest, LedgerDep
from api.json_body import JsonBodyRoute
from api.routes import ERRORS
from api.schemas import AppendEventsRequest, AppendResponse, RecordedEventRef, StartSessionRequest

router = APIRouter(prefix="/v1", tags=["ingest"], responses=ERRORS, route_class=JsonBodyRoute)


def append_response(result: AppendResult, response: Response) -> AppendResponse:
    response.status_code = _status(result)
    return _answer(result)


def append_json(result: AppendResult) -> Response:
    """The answer serialised once: returning the model would have FastAPI validate it again
    against the route's ``response_model`` (which stays, for the OpenAPI document)."""
    return Response(
        _answer(result).model_dump_json(),
        status_code=_status(result),
        media_type="application/json",
    )


def _status(result: AppendResult) -> int:
    return 200 if result.duplicate else 201


def _answer(result: AppendResult) -> AppendResponse:
    return AppendResponse(
        session_id=result.stream_id,
        version=result.version,
        position=result.position,
        duplicate=result.duplicate,
        events=[
            RecordedEventRef(
                event_id=e.event_id, type=e.type, version=e.version, position=e.position
            )
            for e in result.events
        ],
    )


@router.post(
    "/sessions",
    status_code=201,
    response_model=AppendResponse,
    summary="Start a session (idempotent by event_id)",
)
async def start_session(body: StartSessionRequest, ledger: LedgerDep, who: Ingest) -> Response:
    item = NewEvent(body.payload(), body.event_id, body.occurred_at)
    session_id = body.session_id or new_session_id(who.workspace_id, body.event_id)
    result = await ledger.commands.start_in_loop(session_id, item, who)
    return append_json(result)


@router.post(
    "/sessions/{session_id}/events",
    status_code=201,
    response_model=AppendResponse,
    summary="Append events to a session (all or none)",
)
async def append_events(
    session_id: UUID,
    body: AppendEventsRequest,
    ledger: LedgerDep,
    who: Ingest,
) -> Response:
    check_may_record(who, [e.payload for e in body.events])
    items = [NewEvent(e.payload, e.event_id, e.occurred_at) for e in body.events]
    result = await ledger.commands.append_in_loop(
        session_id, items, who, expected_version=body.expected_version
    )
    return append_json(result)
