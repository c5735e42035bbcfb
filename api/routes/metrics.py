"""Analytics over the read models: ASR, OSS and CSS per agent or channel and period."""

from __future__ import annotations

from datetime import date
from typing import Annotated

from fastapi import APIRouter, Query

from api.consistency import SessionListConsistency
from api.deps import LedgerDep, Viewer
from api.queries import AsrMetricsQueries, MetricsGroup, MetricsPeriod
from api.routes import ERRORS
from api.schemas import AsrMetricsResponse
from api.session_filters import check_range

router = APIRouter(prefix="/v1/metrics", tags=["metrics"], responses=ERRORS)


@router.get("/asr", response_model=AsrMetricsResponse, summary="ASR, OSS and CSS per period")
def asr_metrics(
    ledger: LedgerDep,
    who: Viewer,
    _consistent: SessionListConsistency,  # asr_metrics is written with the session list
    group_by: MetricsGroup = MetricsGroup.agent,
    period: MetricsPeriod = MetricsPeriod.day,
    first_day: Annotated[
        date | None, Query(alias="from", description="First local day, inclusive.")
    ] = None,
    last_day: Annotated[
        date | None, Query(alias="to", description="Last local day, inclusive.")
    ] = None,
) -> AsrMetricsResponse:
    """Test sessions excluded; a human assessment counts over the automatic one.

    Days are local days in the agent's rules' time zone; weeks start on Monday.
    """
    check_range(first_day, last_day)
    return AsrMetricsQueries(ledger.pool).report(
        who.workspace_id,
        group_by=group_by,
        period=period,
        first_day=first_day,
        last_day=last_day,
    )
