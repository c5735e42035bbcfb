"""Read-model operations: status and lag, parked events and their retry."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import BaseModel

from api.deps import Admin, LedgerDep, Viewer
from api.routes import ERRORS
from projections.engine import ProjectionEngine
from projections.registry import all_projections
from projections.status import parked_events, read_model_status

router = APIRouter(prefix="/v1/projections", tags=["operations"], responses=ERRORS)


class ReadModelOut(BaseModel):
    projection: str
    position: int
    lag: int
    events_applied: int
    parked: int
    updated_at: datetime | None


class ProjectionsOut(BaseModel):
    ledger_position: int
    read_models: list[ReadModelOut]


class ParkedOut(BaseModel):
    id: int
    projection: str
    position: int | None
    stream_id: str | None
    version: int | None
    event_type: str | None
    error: str
    parked_at: datetime


class RetryOut(BaseModel):
    applied: int
    still_parked: int


@router.get("", response_model=ProjectionsOut, summary="Each read model's position and lag")
def projections(ledger: LedgerDep, who: Viewer) -> ProjectionsOut:
    head = ledger.store.max_position()
    with ledger.pool.connection() as conn:
        statuses = read_model_status(conn, [p.name for p in all_projections()], head)
    return ProjectionsOut(
        ledger_position=head, read_models=[ReadModelOut(**vars(s)) for s in statuses]
    )


@router.get("/parked", response_model=list[ParkedOut], summary="Events a read model refused")
def parked(
    ledger: LedgerDep,
    who: Admin,
    projection: Annotated[str | None, Query()] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> list[ParkedOut]:
    with ledger.pool.connection() as conn:
        rows = parked_events(conn, projection=projection, limit=limit)
    return [ParkedOut(**vars(row)) for row in rows]


@router.post("/parked/retry", response_model=RetryOut, summary="Apply parked events again")
def retry(
    ledger: LedgerDep, who: Admin, projection: Annotated[str | None, Query()] = None
) -> RetryOut:
    engine = ProjectionEngine(ledger.pool, all_projections(), ledger.store)
    applied, still = engine.retry_parked(projection)
    return RetryOut(applied=applied, still_parked=still)
