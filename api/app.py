"""The HTTP API (FastAPI). Commands go through ``SessionCommands``; queries read read models."""

from __future__ import annotations

from contextlib import asynccontextmanager
from typing import Annotated
from uuid import UUID

from fastapi import Depends, FastAPI, Query, Request, Response
from fastapi.responses import ORJSONResponse

from api.commands import AppendResult, Caller, NewEvent, SessionCommands, new_session_id
from api.errors import install_error_handlers
from api.queries import SessionQueries
from api.schemas import (
    AppendEventsRequest,
    AppendResponse,
    ErrorResponse,
    HistoryResponse,
    RecordedEventRef,
    SessionDetail,
    SessionPage,
    StartSessionRequest,
)
from domain.envelope import Actor, ActorKind
from domain.errors import StreamNotFound
from infra.database import apply_schema, create_pool
from infra.event_store import EventStore
from infra.settings import Settings
from projections.registry import read_model_schema

ERRORS = {
    status: {"model": ErrorResponse, "description": text}
    for status, text in {
        404: "Unknown session",
        409: "Refused by a session rule or a version conflict",
        422: "Invalid body or parameter (the field and the reason)",
        503: "Database unavailable; retry after the Retry-After seconds",
    }.items()
}


class Ledger:
    """What a request needs, built once per process."""

    def __init__(self, settings: Settings, database_url: str) -> None:
        self.settings = settings
        self.store = EventStore(database_url, pool_size=settings.db_pool_size)
        self.store.create_schema()
        apply_schema(database_url, read_model_schema())
        self.pool = create_pool(database_url, size=settings.db_pool_size, name="api-queries")
        self.commands = SessionCommands(self.store, max_retries=settings.max_append_retries)
        self.queries = SessionQueries(self.pool)

    def close(self) -> None:
        self.pool.close()
        self.store.close()


def caller(request: Request) -> Caller:
    # Until API keys exist every call acts in the configured workspace as the API itself.
    settings: Settings = request.app.state.ledger.settings
    return Caller(
        workspace_id=settings.workspace,
        actor=Actor(kind=ActorKind.system, id="api", name="HTTP API (unauthenticated)"),
    )


def ledger(request: Request) -> Ledger:
    return request.app.state.ledger


LedgerDep = Annotated[Ledger, Depends(ledger)]
CallerDep = Annotated[Caller, Depends(caller)]


def create_app(settings: Settings, database_url: str) -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI):
        app.state.ledger = Ledger(settings, database_url)
        try:
            yield
        finally:
            app.state.ledger.close()

    app = FastAPI(
        title="Conversation Ledger",
        version="0.1.0",
        summary="An event-sourced ledger of the conversations AI agents hold with people.",
        lifespan=lifespan,
        default_response_class=ORJSONResponse,
    )
    install_error_handlers(app)
    _routes(app)
    return app


def _append_response(result: AppendResult, response: Response) -> AppendResponse:
    response.status_code = 200 if result.duplicate else 201
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


def _routes(app: FastAPI) -> None:
    @app.get("/healthz", tags=["operations"])
    def healthz(ledger: LedgerDep) -> dict:
        return {"status": "ok", "position": ledger.store.max_position()}

    @app.post(
        "/v1/sessions",
        status_code=201,
        response_model=AppendResponse,
        responses=ERRORS,
        tags=["ingest"],
        summary="Start a session (idempotent by event_id)",
    )
    def start_session(
        body: StartSessionRequest, response: Response, ledger: LedgerDep, who: CallerDep
    ) -> AppendResponse:
        item = NewEvent(body.payload(), body.event_id, body.occurred_at)
        result = ledger.commands.start(body.session_id or new_session_id(), item, who)
        return _append_response(result, response)

    @app.post(
        "/v1/sessions/{session_id}/events",
        status_code=201,
        response_model=AppendResponse,
        responses=ERRORS,
        tags=["ingest"],
        summary="Append events to a session (all or none)",
    )
    def append_events(
        session_id: UUID,
        body: AppendEventsRequest,
        response: Response,
        ledger: LedgerDep,
        who: CallerDep,
    ) -> AppendResponse:
        items = [NewEvent(e.payload, e.event_id, e.occurred_at) for e in body.events]
        result = ledger.commands.append(
            session_id, items, who, expected_version=body.expected_version
        )
        return _append_response(result, response)

    @app.get("/v1/sessions", response_model=SessionPage, responses=ERRORS, tags=["sessions"])
    def list_sessions(
        ledger: LedgerDep,
        who: CallerDep,
        limit: Annotated[int, Query(ge=1, le=500)] = 50,
        cursor: Annotated[str | None, Query(description="From next_cursor")] = None,
    ) -> SessionPage:
        return ledger.queries.page(who.workspace_id, limit=limit, cursor=cursor)

    @app.get(
        "/v1/sessions/{session_id}",
        response_model=SessionDetail,
        responses=ERRORS,
        tags=["sessions"],
    )
    def get_session(session_id: UUID, ledger: LedgerDep, who: CallerDep) -> SessionDetail:
        session = _own_session(ledger, session_id, who)
        return SessionDetail(
            session_id=session_id,
            listed=ledger.queries.row(who.workspace_id, session_id),
            state=session.state.model_dump(mode="json"),
        )

    @app.get(
        "/v1/sessions/{session_id}/history",
        response_model=HistoryResponse,
        responses=ERRORS,
        tags=["sessions"],
        summary="The session's events exactly as stored, in order",
    )
    def history(session_id: UUID, ledger: LedgerDep, who: CallerDep) -> HistoryResponse:
        events = ledger.store.read_stream(session_id)
        if not events or events[0].workspace_id != who.workspace_id:
            raise StreamNotFound(f"session {session_id} not found")
        return HistoryResponse(session_id=session_id, events=events)


def _own_session(ledger: Ledger, session_id: UUID, who: Caller):
    session = ledger.commands.load(session_id)
    if session.state.workspace_id != who.workspace_id:
        # Another workspace's session is indistinguishable from a missing one.
        raise StreamNotFound(f"session {session_id} not found")
    return session
