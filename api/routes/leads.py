"""Leads: a returning visitor's sessions, merged by shared identifiers, and why."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Query

from api.consistency import LeadsConsistency
from api.deps import LedgerDep, Viewer
from api.read_model_schemas import LeadDetail, LeadPage
from api.read_models import LeadQueries
from api.routes import ERRORS

router = APIRouter(prefix="/v1/leads", tags=["leads"], responses=ERRORS)


@router.get("", response_model=LeadPage, summary="Leads, newest first")
def list_leads(
    ledger: LedgerDep,
    who: Viewer,
    _consistent: LeadsConsistency,
    search: Annotated[
        str | None,
        Query(max_length=320, description="Part of an email, phone, external id or name."),
    ] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    cursor: Annotated[str | None, Query(description="next_cursor of the previous page")] = None,
) -> LeadPage:
    return LeadQueries(ledger.pool).page(
        who.workspace_id, search=search, limit=limit, cursor=cursor
    )


@router.get(
    "/{lead_id}",
    response_model=LeadDetail,
    summary="One lead: its sessions across channels, identifiers and merges",
)
def get_lead(
    lead_id: UUID, ledger: LedgerDep, who: Viewer, _consistent: LeadsConsistency
) -> LeadDetail:
    return LeadQueries(ledger.pool).detail(who.workspace_id, lead_id)
