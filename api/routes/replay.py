"""Exact replay over HTTP: a session's folded state at any version or point in time."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field

from api.deps import LedgerDep, Viewer
from api.routes import ERRORS
from domain.errors import StreamNotFound
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
    events = ledger.store.read_stream(session_id)
    if not events or events[0].workspace_id != who.workspace_id:
        raise StreamNotFound(f"session {session_id} not found")
    prefix = history_as_of(events, version=as_of_version, at=as_of)
    session = replay(session_id, prefix)
    return SessionStateAsOf(
        session_id=session_id,
        version=session.version,
        head_version=events[-1].version,
        state=session.state.model_dump(mode="json"),
    )
