"""Questions the agents missed: groups by wording, one group's story, the daily share."""

from __future__ import annotations

from datetime import date
from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Depends, Query

from api.consistency import MissedQuestionsConsistency
from api.deps import LedgerDep, Viewer
from api.read_model_schemas import MissedQuestionDetail, MissedQuestionPage, MissedShareResponse
from api.read_models import MissedQuestionQueries, MissedQuestionSort
from api.routes import ERRORS
from api.session_filters import check_range
from domain.values import MissedQuestionStatus

router = APIRouter(prefix="/v1/missed-questions", tags=["missed questions"], responses=ERRORS)

Agent = Annotated[str | None, Query(description="Only this agent's questions.")]
DayFrom = Annotated[date | None, Query(alias="from", description="First UTC day, inclusive.")]
DayTo = Annotated[date | None, Query(alias="to", description="Last UTC day, inclusive.")]


class MissedQuestionFilters:
    """The list's filters and order, shared with its CSV export (``api.routes.exports``)."""

    def __init__(
        self,
        agent: Agent = None,
        status: Annotated[MissedQuestionStatus | None, Query()] = None,
        day_from: DayFrom = None,
        day_to: DayTo = None,
        sort: Annotated[
            MissedQuestionSort,
            Query(description="occurrences (within from..to when given) or last_seen, descending"),
        ] = MissedQuestionSort.occurrences,
    ) -> None:
        check_range(day_from, day_to)
        # Named as MissedQuestionQueries.page names them.
        self.arguments = {
            "agent": agent,
            "status": status.value if status else None,
            "day_from": day_from,
            "day_to": day_to,
            "sort": sort,
        }


@router.get("", response_model=MissedQuestionPage, summary="Missed questions, grouped by wording")
def list_missed_questions(
    ledger: LedgerDep,
    who: Viewer,
    _consistent: MissedQuestionsConsistency,
    filters: Annotated[MissedQuestionFilters, Depends()],
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    cursor: Annotated[str | None, Query(description="next_cursor of the previous page")] = None,
) -> MissedQuestionPage:
    return MissedQuestionQueries(ledger.pool).page(
        who.workspace_id, **filters.arguments, limit=limit, cursor=cursor
    )


@router.get(
    "/share",
    response_model=MissedShareResponse,
    summary="Per agent and day: customer messages, and how many the agent missed",
)
def missed_share(
    ledger: LedgerDep,
    who: Viewer,
    _consistent: MissedQuestionsConsistency,
    agent: Agent = None,
    day_from: DayFrom = None,
    day_to: DayTo = None,
) -> MissedShareResponse:
    check_range(day_from, day_to)
    return MissedQuestionQueries(ledger.pool).share(
        who.workspace_id, agent=agent, day_from=day_from, day_to=day_to
    )


@router.get(
    "/{group_id}",
    response_model=MissedQuestionDetail,
    summary="One missed question: occurrences per day and each occurrence",
    description="By a group's id, or by the id of a wording that rules merged into a group"
    " (a link from before the rules changed): then the merged group, whose `group_id` differs.",
)
def get_missed_question(
    group_id: UUID,
    ledger: LedgerDep,
    who: Viewer,
    _consistent: MissedQuestionsConsistency,
    limit: Annotated[int, Query(ge=1, le=1000, description="Occurrences listed")] = 100,
) -> MissedQuestionDetail:
    return MissedQuestionQueries(ledger.pool).detail(who.workspace_id, group_id, limit=limit)
