"""Operations: health and ledger verification."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Query
from pydantic import BaseModel

from api.deps import Admin, LedgerDep
from api.routes import ERRORS
from infra.verification import verify_ledger

router = APIRouter(tags=["operations"])


@router.get("/healthz", summary="Liveness and the ledger's head position")
def healthz(ledger: LedgerDep) -> dict:
    return {"status": "ok", "position": ledger.store.max_position()}


class BreachOut(BaseModel):
    stream_id: str | None
    version: int | None
    reason: str


class VerificationOut(BaseModel):
    ok: bool
    streams: int
    events: int
    checkpoints: int
    seconds: float
    breaches: list[BreachOut]


@router.get(
    "/v1/ledger/verify",
    response_model=VerificationOut,
    responses=ERRORS,
    summary="Recompute every hash chain and report each broken stream's first bad version",
)
def verify(
    ledger: LedgerDep,
    who: Admin,
    session: Annotated[UUID | None, Query(description="Verify one session only")] = None,
) -> VerificationOut:
    report = verify_ledger(ledger.database_url, stream_id=session)
    # A stream whose every event is gone has no workspace left to tell: shown to all.
    visible = [b for b in report.breaches if b.workspace_id in (None, who.workspace_id)]
    return VerificationOut(
        ok=not visible,
        streams=report.streams,
        events=report.events,
        checkpoints=report.checkpoints,
        seconds=report.seconds,
        breaches=[
            BreachOut(stream_id=b.stream_id, version=b.version, reason=b.reason) for b in visible
        ],
    )
