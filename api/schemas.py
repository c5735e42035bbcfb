"""Request and response bodies of the HTTP API (pydantic v2; they make the OpenAPI document)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any, Literal, Union
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, create_model

from domain.envelope import Envelope
from domain.events import (
    CommentAdded,
    EventPayload,
    FlagSet,
    HandoverRequested,
    HandoverTrigger,
    HumanAgentAssigned,
    HumanAssessmentCleared,
    HumanAssessmentSet,
    MissedQuestionSource,
    MissedQuestionStatusChanged,
    QuestionMissed,
    SessionResolved,
    SessionStarted,
    TagAdded,
    TagRemoved,
    catalog,
    payload_class,
)
from domain.session import STREAM_TYPE as SESSION_STREAM
from domain.values import Identifier, ReportedInstant

START_META_FIELDS = frozenset({"session_id", "event_id", "occurred_at"})


class StartSessionRequest(SessionStarted):
    """The ``session.started`` payload, plus the optional ids that make a retry idempotent."""

    session_id: UUID | None = Field(default=None, description="Client-chosen session id.")
    event_id: UUID | None = Field(default=None, description="Makes a retried start a no-op.")
    occurred_at: ReportedInstant | None = Field(default=None, description="When it began.")

    def payload(self) -> SessionStarted:
        return SessionStarted.model_validate(self.model_dump(exclude=START_META_FIELDS))


def _event_item_model(payload_type: type[EventPayload]) -> type[BaseModel]:
    return create_model(
        f"{payload_type.__name__}Item",
        __config__=ConfigDict(extra="forbid", title=payload_type.event_type),
        type=(Literal[payload_type.event_type], ...),
        event_id=(UUID | None, Field(default=None, description="Makes a retry a no-op.")),
        occurred_at=(ReportedInstant | None, Field(default=None, description="Default: now.")),
        payload=(payload_type, ...),
    )


# Only a session's own events: a missed-question status or a rules version has a route of
# its own, and sent here it is refused by pydantic as a type this route does not take,
# naming ``events.N.type``.
EVENT_ITEM_MODELS = tuple(
    _event_item_model(cls) for cls in catalog().values() if cls.stream_type == SESSION_STREAM
)
EventItem = Annotated[Union[EVENT_ITEM_MODELS], Field(discriminator="type")]  # noqa: UP007


class AppendEventsRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    expected_version: int | None = Field(
        default=None, ge=0, description="Refuse (409) unless the session is at this version."
    )
    events: list[EventItem] = Field(min_length=1, max_length=500)


class RecordedEventRef(BaseModel):
    event_id: UUID
    type: str
    version: int
    position: int | None


class AppendResponse(BaseModel):
    session_id: UUID
    version: int = Field(description="The session's version after this append.")
    position: int = Field(description="Global position of the last event: use as min_position.")
    duplicate: bool = Field(description="True when every event was already stored (a retry).")
    events: list[RecordedEventRef]


class SessionListItem(BaseModel):
    """One row of the session list (read model ``session_list``; see DESIGN.md §3)."""

    session_id: UUID
    workspace_id: str
    status: str = Field(description="active, handed_over, resolved or closed.")
    agent_id: str | None
    agent_version: str | None
    channel: str | None
    deployment: str | None
    integration: str | None
    responsible: str = Field(description="ai, human or unassigned.")
    human_agent_id: str | None
    human_agent_name: str | None
    contact_name: str | None
    contact_email: str | None
    contact_phone: str | None
    external_id: str | None
    ip: str | None
    country: str | None
    region: str | None
    city: str | None
    utm: dict[str, str] | None
    started_at: datetime | None
    last_message_at: datetime | None
    finished_at: datetime | None
    duration_seconds: int
    session_length: str | None = Field(description="short, medium or long (by the rules).")
    message_count: int = Field(description="Customer-visible messages: customer + ai + human.")
    customer_message_count: int
    ai_message_count: int
    human_message_count: int
    has_attachments: bool
    has_customer_responses: bool
    sentiment: str | None = Field(description="The session's sentiment label.")
    negative_sentiment: bool = Field(description="The session or any message is negative.")
    goals: list[str]
    journey_blocks: list[str]
    forms: list[str]
    tags: list[str]
    missed_question_count: int
    longest_missed_run: int = Field(description="Most consecutive customer messages missed.")
    summary: str | None
    session_type: str | None
    units: float | None
    actual_result: str | None
    expected_result: str | None
    conversation_quality: int | None = Field(description="Stars, 1 to 5.")
    is_lead: bool
    refused: bool
    unavailable: bool
    is_opportunity: bool
    opportunity_override: bool | None = Field(description="A human's is_opportunity flag.")
    is_test: bool
    is_todo: bool
    is_archived: bool
    is_favorite: bool
    auto_assessment: str | None
    human_assessment: str | None
    effective_assessment: str | None
    corrected_by_reviewer: bool = Field(description="A human assessment differs from auto.")
    lead_value: float
    conversion_ratio: float
    in_working_hours: bool
    recognition: float
    success_factor: float | None
    asr: float
    lead_id: UUID | None = Field(
        description="The lead the session belongs to now (after merges, the surviving one), as"
        " the leads read model has it; null until that read model has the session."
    )
    rules_version: int
    version: int
    position: int


class SessionPage(BaseModel):
    items: list[SessionListItem]
    next_cursor: str | None = Field(description="Pass as ?cursor= for the next page.")


class SessionDetail(BaseModel):
    session_id: UUID
    listed: SessionListItem | None = Field(description="The session-list row, once projected.")
    state: dict[str, Any] = Field(description="The session folded from the ledger.")


class HistoryResponse(BaseModel):
    session_id: UUID
    events: list[Envelope]


class ErrorBody(BaseModel):
    code: str
    message: str
    field: str | None = None


class ErrorResponse(BaseModel):
    error: ErrorBody


# --- reviewer commands and missed-question reports (api/routes/review.py) ---------------------
#
# Each body is its event's payload plus ``CommandOptions``; ``payload()`` takes the payload's
# fields back out. An override's ``previous`` is passed on only when the client sent it: sent
# means "I saw this value" and is checked, omitted means "whatever it is now".


class CommandOptions(BaseModel):
    event_id: UUID | None = Field(default=None, description="Makes a retry a no-op.")
    expected_version: int | None = Field(
        default=None, ge=0, description="Refuse (409) unless the stream is at this version."
    )

    def payload(self, event_id: UUID) -> EventPayload:
        payload_type = payload_class(self.event_type)  # type: ignore[attr-defined]
        unsent = {"previous"} - self.model_fields_set
        fields = self.model_dump(include=set(payload_type.model_fields) - unsent)
        return payload_type.model_validate({**fields, **self.defaults(event_id)})

    def defaults(self, _event_id: UUID) -> dict[str, Any]:
        """Payload fields the server fills in when the client left them out."""
        return {}


class SetAssessmentRequest(HumanAssessmentSet, CommandOptions):
    """A reviewer's assessment, overriding the automatic one (Yes-A, Yes-B, No)."""


class ClearAssessmentRequest(HumanAssessmentCleared, CommandOptions):
    """Withdraw the human assessment: the automatic one counts again."""


class SetFlagRequest(FlagSet, CommandOptions):
    """Override a flag: is_test, is_todo, is_archived, is_favorite, is_opportunity."""


class AddTagRequest(TagAdded, CommandOptions):
    """Add a tag (adding a present tag is recorded, and changes nothing)."""


class RemoveTagRequest(TagRemoved, CommandOptions):
    """Remove a tag."""


class AddCommentRequest(CommentAdded, CommandOptions):
    """A reviewer's comment on the session."""

    comment_id: Identifier | None = Field(default=None, description="Default: the event id.")

    def defaults(self, event_id: UUID) -> dict[str, Any]:
        return {"comment_id": self.comment_id or str(event_id)}


class RequestHandoverRequest(HandoverRequested, CommandOptions):
    """Hand the conversation over to a human agent."""

    trigger: HandoverTrigger = HandoverTrigger.manual


class AssignHumanAgentRequest(HumanAgentAssigned, CommandOptions):
    """Assign the human agent who takes over a handed-over session."""


class ResolveSessionRequest(SessionResolved, CommandOptions):
    """The human agent resolved the session."""


class ReportMissedQuestionRequest(QuestionMissed, CommandOptions):
    """A question the agent could not answer, in one message of one session."""

    session_id: UUID = Field(description="The session the message is in.")
    source: MissedQuestionSource = MissedQuestionSource.api


class SetMissedQuestionStatusRequest(MissedQuestionStatusChanged, CommandOptions):
    """Resolve or ignore a group of missed questions (or mark it unresolved again)."""


class MissedQuestionStatusResponse(BaseModel):
    group_id: UUID
    version: int = Field(description="The group's stream version after this change.")
    position: int = Field(description="Global position of the event: use as min_position.")
    duplicate: bool = Field(description="True when the event was already stored (a retry).")
    events: list[RecordedEventRef]


# --- ASR metrics (api/routes/metrics.py) --------------------------------------------------------


class AsrMetricsRow(BaseModel):
    group: str = Field(description="The agent id or the channel, as grouped by.")
    period_start: date = Field(description="First local day of the day, week or month.")
    first_day: date = Field(
        description="First local day the figures cover: `period_start`, or `from` when later."
    )
    last_day: date = Field(
        description="Last local day the figures cover: the period's last, or `to` when earlier."
    )
    clipped: bool = Field(
        description="Whether `from`/`to` cut the period: the figures cover first_day..last_day."
    )
    sessions: int
    leads: int
    opportunities: int
    lead_value: float
    asr: float
    oss: float | None = Field(description="Mean success factor over assessed opportunities.")
    css: float | None = Field(description="Mean of 0.2 x stars over rated sessions.")
    rules_version: int


class AsrMetricsResponse(BaseModel):
    group_by: str
    period: str
    rows: list[AsrMetricsRow]
