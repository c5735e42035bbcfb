"""The audit trail: who changed which judgement, from what to what, and why."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Depends, Query
from pydantic import AwareDatetime

from api.consistency import AuditConsistency
from api.deps import LedgerDep, Viewer
from api.read_model_schemas import AuditPage
from api.read_models import AuditQueries
from api.routes import ERRORS
from api.session_filters import check_range

router = APIRouter(prefix="/v1/audit", tags=["audit"], responses=ERRORS)


class AuditFilters:
    """The audit trail's filters, shared with its CSV export (``api.routes.exports``)."""

    def __init__(
        self,
        actor: Annotated[str | None, Query(description="Actor id.")] = None,
        session: Annotated[
            UUID | None, Query(description="A session id, or a missed-question group id.")
        ] = None,
        kind: Annotated[
            str | None, Query(description="Event type (session.flag_set) or action (flag_set).")
        ] = None,
        recorded_from: Annotated[
            AwareDatetime | None, Query(alias="from", description="Recorded at or after.")
        ] = None,
        recorded_to: Annotated[
            AwareDatetime | None, Query(alias="to", description="Recorded before.")
        ] = None,
    ) -> None:
        check_range(recorded_from, recorded_to)
        # Named as AuditQueries.page names them.
        self.arguments = {
            "actor": actor,
            "stream_id": session,
            "kind": kind,
            "recorded_from": recorded_from,
            "recorded_to": recorded_to,
        }


@router.get("", response_model=AuditPage, summary="Judgement changes, newest first")
def list_audit(
    ledger: LedgerDep,
    who: Viewer,
    _consistent: AuditConsistency,
    filters: Annotated[AuditFilters, Depends()],
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    cursor: Annotated[str | None, Query(description="next_cursor of the previous page")] = None,
) -> AuditPage:
    return AuditQueries(ledger.pool).page(
        who.workspace_id, **filters.arguments, limit=limit, cursor=cursor
    )
