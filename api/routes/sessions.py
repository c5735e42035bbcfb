"""The Sessions screens' queries: the list (read model), one session, its exact history."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Query, Response

from api.commands import Caller, session_history
from api.consistency import LedgerConsistency, SessionConsistency, SessionListConsistency
from api.deps import Ledger, LedgerDep, Viewer
from api.routes import ERRORS
from api.schemas import HistoryResponse, SessionDetail, SessionPage
from api.session_filters import SessionListQuery
from domain.envelope import Envelope
from domain.errors import StreamNotFound
from domain.session import Session

router = APIRouter(prefix="/v1/sessions", tags=["sessions"], responses=ERRORS)


@router.get("", response_model=SessionPage, summary="The session list, filtered and sorted")
def list_sessions(
    ledger: LedgerDep,
    who: Viewer,
    query: Annotated[SessionListQuery, Query()],
    _consistent: SessionListConsistency,
) -> SessionPage:
    """Every filter given applies (AND); live sessions only unless ``include_test``.

    Times without a zone are in the workspace's time zone. Pass ``next_cursor`` back as
    ``cursor`` with the same ``sort`` and ``order`` for the next page.
    """
    return ledger.queries.page(who.workspace_id, query)


@router.get("/{session_id}", response_model=SessionDetail, summary="One session")
def get_session(
    session_id: UUID, ledger: LedgerDep, who: Viewer, _consistent: SessionConsistency
) -> SessionDetail:
    session = own_session(ledger, session_id, who)
    return SessionDetail(
        session_id=session_id,
        listed=ledger.queries.row(who.workspace_id, session_id),
        state=session.state.model_dump(mode="json"),
    )


@router.get(
    "/{session_id}/history",
    response_model=HistoryResponse,
    summary="The session's events exactly as stored, in order",
)
def history(
    session_id: UUID, ledger: LedgerDep, who: Viewer, _consistent: LedgerConsistency
) -> Response:
    events = own_events(ledger, session_id, who)
    # Serialised by pydantic in one pass: FastAPI's response_model path would validate and
    # dump the 200 envelopes of a long session again (a third of the request's time).
    body = HistoryResponse(session_id=session_id, events=events).model_dump_json()
    return Response(body, media_type="application/json")


def own_events(ledger: Ledger, session_id: UUID, who: Caller) -> list[Envelope]:
    """The session's events as stored, when it is a session of the caller's workspace."""
    events = session_history(ledger.store, session_id)
    if events[0].workspace_id != who.workspace_id:
        # Another workspace's session is indistinguishable from a missing one.
        raise StreamNotFound(f"session {session_id} not found")
    return events


def own_session(
    ledger: Ledger, session_id: UUID, who: Caller, *, to_version: int | None = None
) -> Session:
    session = ledger.commands.load(session_id, to_version=to_version)
    if session.state.workspace_id != who.workspace_id:
        # Another workspace's session is indistinguishable from a missing one.
        raise StreamNotFound(f"session {session_id} not found")
    return session
