"""Reviewers' commands (assessment, flags, tags, comments, handover, assignment, resolution,
missed-question status) and the ingest side's missed-question report.

Each command records one event through the command service, as the key's actor; the answer
carries the global ``position`` to pass as ``min_position`` to a query.
"""

# No ``from __future__ import annotations``: the routes are made in a loop, and FastAPI reads
# each one's body type from the annotation, which must be the class itself, not its name.

from uuid import UUID, uuid4

from fastapi import APIRouter, Response

from api.commands import Caller, NewEvent, decide_missed_question_status
from api.deps import Ingest, Ledger, LedgerDep, Reviewer
from api.read_models import MissedQuestionQueries
from api.routes import ERRORS
from api.routes.ingest import append_response
from api.schemas import (
    AddCommentRequest,
    AddTagRequest,
    AppendResponse,
    AssignHumanAgentRequest,
    ClearAssessmentRequest,
    CommandOptions,
    MissedQuestionStatusResponse,
    RemoveTagRequest,
    ReportMissedQuestionRequest,
    RequestHandoverRequest,
    ResolveSessionRequest,
    SetAssessmentRequest,
    SetFlagRequest,
    SetMissedQuestionStatusRequest,
)
from domain.errors import StreamNotFound

router = APIRouter(prefix="/v1", tags=["review"], responses=ERRORS)

# (path under /v1/sessions/{session_id}, body, operation id, summary)
SESSION_COMMANDS: tuple[tuple[str, type[CommandOptions], str, str], ...] = (
    ("/assessment", SetAssessmentRequest, "set_assessment", "Set the human assessment"),
    ("/assessment/clear", ClearAssessmentRequest, "clear_assessment", "Clear it, with a reason"),
    ("/flags", SetFlagRequest, "set_flag", "Set a flag (test, todo, archived, favourite, …)"),
    ("/tags", AddTagRequest, "add_tag", "Add a tag"),
    ("/tags/remove", RemoveTagRequest, "remove_tag", "Remove a tag"),
    ("/comments", AddCommentRequest, "add_comment", "Comment on the session"),
    ("/handover", RequestHandoverRequest, "request_handover", "Hand over to a human agent"),
    ("/assign", AssignHumanAgentRequest, "assign_human_agent", "Assign the human agent"),
    ("/resolve", ResolveSessionRequest, "resolve_session", "Resolve the session"),
)


def record(
    ledger: Ledger, session_id: UUID, body: CommandOptions, who: Caller, response: Response
) -> AppendResponse:
    # The event id is fixed before the payload is made: a comment's default id is this id.
    event_id = body.event_id or uuid4()
    item = NewEvent(body.payload(event_id), event_id)
    result = ledger.commands.append(session_id, [item], who, expected_version=body.expected_version)
    return append_response(result, response)


def _add_session_command(path: str, body_type: type[CommandOptions], name: str, summary: str):
    def command(
        session_id: UUID, body: body_type, response: Response, ledger: LedgerDep, who: Reviewer
    ) -> AppendResponse:
        return record(ledger, session_id, body, who, response)

    router.add_api_route(
        f"/sessions/{{session_id}}{path}",
        command,
        methods=["POST"],
        status_code=201,
        response_model=AppendResponse,
        name=name,
        operation_id=name,
        summary=summary,
        description=body_type.__doc__,
    )


for _path, _body, _name, _summary in SESSION_COMMANDS:
    _add_session_command(_path, _body, _name, _summary)


@router.post(
    "/missed-questions",
    status_code=201,
    response_model=AppendResponse,
    summary="Report a question the agent missed (a session.question_missed event)",
)
def report_missed_question(
    body: ReportMissedQuestionRequest, response: Response, ledger: LedgerDep, who: Ingest
) -> AppendResponse:
    return record(ledger, body.session_id, body, who, response)


@router.post(
    "/missed-questions/{group_id}/status",
    status_code=201,
    response_model=MissedQuestionStatusResponse,
    summary="Resolve or ignore a group of missed questions",
)
def set_missed_question_status(
    group_id: UUID,
    body: SetMissedQuestionStatusRequest,
    response: Response,
    ledger: LedgerDep,
    who: Reviewer,
) -> MissedQuestionStatusResponse:
    _check_group_listed(ledger, group_id, who)
    event_id = body.event_id or uuid4()
    result = ledger.streams.append(
        group_id,
        NewEvent(body.payload(event_id), event_id),
        who,
        decide_missed_question_status,
        expected_version=body.expected_version,
    )
    recorded = append_response(result, response)
    return MissedQuestionStatusResponse(
        group_id=group_id, **recorded.model_dump(exclude={"session_id"})
    )


def _check_group_listed(ledger: Ledger, group_id: UUID, who: Caller) -> None:
    """A group id is derived from its workspace, agent and wording, so the group can only be
    known from the missed_questions read model: one of this workspace's groups, or 404.

    A member's wording id is accepted too: after rules merged wordings into one group, a status
    recorded on a wording id the reviewer saw before applies to the merged group."""
    if not MissedQuestionQueries(ledger.pool).is_listed(who.workspace_id, group_id):
        raise StreamNotFound(f"missed-question group {group_id} not found")
