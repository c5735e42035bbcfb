"""Response bodies of the missed-questions, leads and audit-trail queries."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any
from uuid import UUID

from pydantic import BaseModel, Field

from domain.envelope import Actor

NEXT_CURSOR = Field(description="Pass as ?cursor= for the next page; null on the last page.")


# --- missed questions -----------------------------------------------------------------------


class MissedQuestionGroup(BaseModel):
    group_id: UUID = Field(description="Also the id of the group's missed_question stream.")
    agent_id: str
    question: str = Field(
        description="The group's wording, normalised as its rules version says (by default:"
        " whitespace collapsed)."
    )
    status: str = Field(description="unresolved, resolved or ignored")
    occurrences: int = Field(description="Since the agent began.")
    occurrences_in_range: int | None = Field(description="Within from..to, when given.")
    sessions: int = Field(description="Distinct sessions, since the agent began.")
    first_seen: datetime
    last_seen: datetime
    rules_version: int = Field(description="The workspace's rules version that grouped it.")


class MissedQuestionPage(BaseModel):
    items: list[MissedQuestionGroup]
    next_cursor: str | None = NEXT_CURSOR


class MissedQuestionDay(BaseModel):
    day: date
    occurrences: int
    sessions: int


class MissedQuestionOccurrence(BaseModel):
    session_id: UUID
    message_id: str
    occurred_at: datetime
    question: str = Field(description="As the agent reported it.")


class MissedQuestionDetail(BaseModel):
    group: MissedQuestionGroup
    status_reason: str | None
    days: list[MissedQuestionDay]
    occurrences: list[MissedQuestionOccurrence] = Field(description="Newest first.")


class MissedShareDay(BaseModel):
    agent_id: str
    day: date
    customer_messages: int
    missed: int = Field(description="Customer messages the agent missed.")
    share: float | None = Field(description="missed / customer_messages")


class MissedShareResponse(BaseModel):
    items: list[MissedShareDay]


# --- leads ----------------------------------------------------------------------------------


class LeadIdentifier(BaseModel):
    kind: str = Field(description="email (case-folded), phone (E.164) or external_id")
    value: str


class LeadSummary(BaseModel):
    lead_id: UUID
    first_session_id: UUID
    first_started_at: datetime
    sessions: int
    contact_name: str | None = Field(description="From the lead's latest session naming one.")
    identifiers: list[LeadIdentifier]


class LeadPage(BaseModel):
    items: list[LeadSummary]
    next_cursor: str | None = NEXT_CURSOR


class LeadSession(BaseModel):
    session_id: UUID
    channel: str
    agent_id: str
    started_at: datetime
    status: str
    contact_name: str | None
    email: str | None
    phone: str | None
    external_id: str | None


class LeadIdentifierSeen(LeadIdentifier):
    first_event_id: UUID
    first_session_id: UUID
    first_position: int | None


class LeadMerge(BaseModel):
    merged_lead_id: UUID
    into_lead_id: UUID
    identifier_kind: str
    identifier_value: str
    event_id: UUID
    session_id: UUID
    position: int | None
    occurred_at: datetime
    rules_version: int
    moved_sessions: int
    explanation: str


class LeadDetail(LeadSummary):
    requested_id: UUID
    merged_into: UUID | None = Field(
        description="Set when the requested lead was merged away: the lead shown instead."
    )
    identifiers: list[LeadIdentifierSeen]
    session_list: list[LeadSession] = Field(description="Every session, oldest first.")
    merges: list[LeadMerge] = Field(description="Every lead merged into this one, in order.")


# --- audit trail ----------------------------------------------------------------------------


class AuditEntryItem(BaseModel):
    event_id: UUID
    stream_id: UUID = Field(description="The session, or the missed-question group.")
    stream_type: str
    version: int
    position: int | None
    event_type: str
    action: str
    field: str
    before: Any
    after: Any
    reason: str | None
    actor: Actor
    occurred_at: datetime
    recorded_at: datetime
    hash: str


class AuditPage(BaseModel):
    items: list[AuditEntryItem]
    next_cursor: str | None = NEXT_CURSOR
