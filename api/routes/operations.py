"""Operations: health and ledger verification."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field

from api.commands import Caller
from api.deps import Admin, LedgerDep
from api.routes import ERRORS
from domain.errors import StreamNotFound
from infra.verification import VerificationReport, verify_ledger

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
    head: int = Field(description="The ledger's newest position.")
    chain_attested_through: int = Field(
        description="The newest position a checkpoint of the global chain attests; events"
        " after it are checked in their streams only, until the relay publishes them."
    )
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
    if session is not None and not _may_see_stream(report, who):
        raise StreamNotFound(f"session {session} not found", field="session")
    # A breach with no workspace (a stream whose events are gone or whose first event was
    # tampered with, the global chain) cannot be placed: shown to all.
    visible = [b for b in report.breaches if b.workspace_id in (None, who.workspace_id)]
    return VerificationOut(
        ok=not visible,
        streams=report.streams,
        events=report.events,
        checkpoints=report.checkpoints,
        head=report.head,
        chain_attested_through=report.chain_attested_through,
        seconds=report.seconds,
        breaches=[
            BreachOut(stream_id=b.stream_id, version=b.version, reason=b.reason) for b in visible
        ],
    )


def _may_see_stream(report: VerificationReport, who: Caller) -> bool:
    """A stream of the caller's workspace, or one whose workspace its events no longer attest
    (its breach is everyone's to see); another workspace's is indistinguishable from none."""
    if report.streams == 0:
        return False
    return report.workspace_id in (None, who.workspace_id)
