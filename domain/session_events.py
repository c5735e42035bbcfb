"""The session stream's events: one conversation from its start to the reviewers' last word.

Import them from ``domain.events``. Each model is frozen, rejects unknown fields, and
validates closed vocabularies, so an out-of-set value is a pydantic ``ValidationError``.
"""

from __future__ import annotations

from typing import Any, ClassVar, Self

from pydantic import Field, FiniteFloat, field_validator, model_validator

from domain.registry import EventPayload, event, upcaster
from domain.values import (
    MAX_TEXT_CHARS,
    Assessment,
    Attachment,
    AuthorRole,
    Channel,
    Contact,
    DecisionTrace,
    DeliveryStatus,
    FieldValue,
    Flag,
    HandoverTrigger,
    Identifier,
    Location,
    MissedQuestionSource,
    NonBlank,
    Reaction,
    ReactorRole,
    SentimentLabel,
    SentimentScope,
    Tag,
    Written,
)

MAX_MESSAGE_BYTES = 64 * 1024


class Override(EventPayload):
    """A reviewer's judgement that replaces a value: it carries ``reason`` and ``previous``.

    ``previous`` is the value being replaced, as the session held it when the event was
    recorded. The caller may omit it: ``Session.record`` then fills in the actual value from
    the state. A caller that does send it (even ``null``) asserts what it saw, and the record
    is refused with ``PreviousValueMismatch`` when the session holds something else, so two
    reviewers cannot silently overwrite each other. Stored events always carry it.
    """


# --- the conversation --------------------------------------------------------------------


@event
class SessionStarted(EventPayload):
    event_type: ClassVar[str] = "session.started"

    agent_id: Identifier
    agent_version: str | None = Field(default=None, max_length=100)
    channel: Channel
    deployment: str | None = Field(default=None, max_length=200)
    initiator: str | None = Field(default=None, max_length=200)
    contact: Contact = Contact()
    parameters: dict[str, str] = {}
    utm: dict[str, str] = {}
    ip: str | None = Field(default=None, max_length=64)
    location: Location | None = None
    integration: str | None = Field(default=None, max_length=200)
    external_id: str | None = Field(default=None, max_length=200)


@event
class MessageRecorded(EventPayload):
    event_type: ClassVar[str] = "session.message_recorded"

    message_id: Identifier
    author_role: AuthorRole
    author: str | None = Field(default=None, max_length=200)
    text: str = Field(default="", description="Markdown, at most 64 KiB of UTF-8.")
    attachments: tuple[Attachment, ...] = ()
    quick_replies: tuple[str, ...] = ()
    journey_block: str | None = Field(default=None, max_length=200)
    decision_trace: DecisionTrace | None = None

    @field_validator("text")
    @classmethod
    def _text_size(cls, value: str) -> str:
        if len(value.encode()) > MAX_MESSAGE_BYTES:
            raise ValueError(f"message text exceeds {MAX_MESSAGE_BYTES} bytes")
        return value


@event
class MessageReacted(EventPayload):
    """A thumbs up or down on one message.

    Schema version 2: version 1 stored ``reaction: "up" | "down"`` and only ever came from
    the customer's widget; version 2 names the reaction and says who gave it (``by_role``).
    """

    event_type: ClassVar[str] = "session.message_reacted"
    schema_version: ClassVar[int] = 2

    message_id: Identifier
    reaction: Reaction
    by_role: ReactorRole
    by: str | None = Field(default=None, max_length=200, description="Who, when known.")


_V1_REACTIONS = {"up": Reaction.thumbs_up.value, "down": Reaction.thumbs_down.value}


@upcaster(MessageReacted.event_type, from_version=1)
def _reaction_v1_to_v2(document: dict[str, Any]) -> dict[str, Any]:
    # Version 1 was only collected by the customer widget, so the customer reacted.
    return {
        **document,
        "reaction": _V1_REACTIONS[document["reaction"]],
        "by_role": ReactorRole.customer.value,
    }


@event
class MessageDeliveryUpdated(EventPayload):
    event_type: ClassVar[str] = "session.message_delivery_updated"

    message_id: Identifier
    status: DeliveryStatus
    error: str | None = Field(default=None, max_length=2000)

    @model_validator(mode="after")
    def _error_only_when_failed(self) -> Self:
        if self.error is not None and self.status is not DeliveryStatus.failed:
            raise ValueError("an error is only reported with status 'failed'")
        return self


@event
class SentimentScored(EventPayload):
    event_type: ClassVar[str] = "session.sentiment_scored"

    scope: SentimentScope
    message_id: Identifier | None = None
    label: SentimentLabel
    score: FiniteFloat = Field(ge=-1.0, le=1.0)

    @model_validator(mode="after")
    def _message_id_matches_scope(self) -> Self:
        # A message score without its message, or a session score pinned to one, is ambiguous.
        if (self.scope is SentimentScope.message) != (self.message_id is not None):
            raise ValueError("message_id is required for scope 'message' and only for it")
        return self


@event
class GoalReached(EventPayload):
    event_type: ClassVar[str] = "session.goal_reached"

    goal: Identifier
    value: FiniteFloat | None = None
    message_id: Identifier | None = None


@event
class JourneyBlockEntered(EventPayload):
    event_type: ClassVar[str] = "session.journey_block_entered"

    block_id: Identifier
    name: str = Field(max_length=500)


@event
class FormSubmitted(EventPayload):
    event_type: ClassVar[str] = "session.form_submitted"

    form_name: Identifier
    fields: dict[str, FieldValue] = {}


@event
class ResultCollected(EventPayload):
    """A collected result or key fact; a later value for the same key replaces the earlier."""

    event_type: ClassVar[str] = "session.result_collected"

    key: Identifier
    value: FieldValue


@event
class ContactIdentified(EventPayload):
    """Identity learnt mid-conversation; merged over the contact the session started with."""

    event_type: ClassVar[str] = "session.contact_identified"

    contact: Contact

    @field_validator("contact")
    @classmethod
    def _learns_something(cls, value: Contact) -> Contact:
        if not value.model_dump(exclude_none=True):
            raise ValueError("at least one contact field must be given")
        return value


@event
class QuestionMissed(EventPayload):
    event_type: ClassVar[str] = "session.question_missed"

    message_id: Identifier
    question: Written
    source: MissedQuestionSource
    node: str | None = Field(default=None, max_length=200, description="Workflow node.")


@event
class HandoverRequested(EventPayload):
    event_type: ClassVar[str] = "session.handover_requested"

    trigger: HandoverTrigger
    reason: str | None = Field(default=None, max_length=2000)


@event
class HumanAgentAssigned(EventPayload):
    """``previous`` is the human agent this one takes over from (``null`` for the first): the
    ledger fills it in as ``Override`` does, so an auditor sees a reassignment whole. Not an
    ``Override``: the agent runtime assigns too, with an ingest key."""

    event_type: ClassVar[str] = "session.human_agent_assigned"

    agent_id: Identifier
    agent_name: str = Field(default="", max_length=200)
    reason: str | None = Field(default=None, max_length=MAX_TEXT_CHARS)
    previous: Identifier | None = None


@event
class SessionResolved(EventPayload):
    event_type: ClassVar[str] = "session.resolved"

    note: str | None = Field(default=None, max_length=MAX_TEXT_CHARS)


@event
class SessionClosed(EventPayload):
    event_type: ClassVar[str] = "session.closed"

    reason: str = Field(default="completed", max_length=200)


# --- review work ------------------------------------------------------------------------------


@event
class SessionAnalyzed(EventPayload):
    """The automatic analysis of a finished (or running) conversation."""

    event_type: ClassVar[str] = "session.analyzed"

    summary: str = Field(default="", max_length=MAX_TEXT_CHARS)
    session_type: str | None = Field(default=None, max_length=200)
    is_lead: bool = False
    units: FiniteFloat | None = Field(default=None, ge=0, description="Guests, square metres, …")
    refused: bool = False
    unavailable: bool = False
    actual_result: str | None = Field(default=None, max_length=MAX_TEXT_CHARS)
    expected_result: str | None = Field(default=None, max_length=MAX_TEXT_CHARS)
    auto_assessment: Assessment
    conversation_quality: int = Field(ge=1, le=5, description="Stars.")


@event
class HumanAssessmentSet(Override):
    event_type: ClassVar[str] = "session.human_assessment_set"

    assessment: Assessment
    reason: NonBlank
    previous: Assessment | None = None


@event
class HumanAssessmentCleared(Override):
    event_type: ClassVar[str] = "session.human_assessment_cleared"

    reason: NonBlank
    previous: Assessment | None = None


@event
class FlagSet(Override):
    """``previous`` is ``null`` when nobody had set the flag: the rules decided it."""

    event_type: ClassVar[str] = "session.flag_set"

    flag: Flag
    value: bool
    reason: NonBlank
    previous: bool | None = None


class TagChange(Override):
    """``previous`` is whether the tag was present before; only a caller leaves it ``null``."""

    tag: Tag
    reason: NonBlank | None = None
    previous: bool | None = None


@event
class TagAdded(TagChange):
    event_type: ClassVar[str] = "session.tag_added"


@event
class TagRemoved(TagChange):
    event_type: ClassVar[str] = "session.tag_removed"


@event
class CommentAdded(EventPayload):
    event_type: ClassVar[str] = "session.comment_added"

    comment_id: Identifier
    text: Written
    reason: NonBlank | None = None
