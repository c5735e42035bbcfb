"""Request and response bodies of the HTTP API (pydantic v2; they make the OpenAPI document)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal, Union
from uuid import UUID

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, create_model

from domain.envelope import Envelope
from domain.events import EventPayload, SessionStarted, catalog

START_META_FIELDS = frozenset({"session_id", "event_id", "occurred_at"})


class StartSessionRequest(SessionStarted):
    """The ``session.started`` payload, plus the optional ids that make a retry idempotent."""

    session_id: UUID | None = Field(default=None, description="Client-chosen session id.")
    event_id: UUID | None = Field(default=None, description="Makes a retried start a no-op.")
    occurred_at: AwareDatetime | None = Field(default=None, description="When it began.")

    def payload(self) -> SessionStarted:
        return SessionStarted.model_validate(self.model_dump(exclude=START_META_FIELDS))


def _event_item_model(payload_type: type[EventPayload]) -> type[BaseModel]:
    return create_model(
        f"{payload_type.__name__}Item",
        __config__=ConfigDict(extra="forbid", title=payload_type.event_type),
        type=(Literal[payload_type.event_type], ...),
        event_id=(UUID | None, Field(default=None, description="Makes a retry a no-op.")),
        occurred_at=(AwareDatetime | None, Field(default=None, description="Default: now.")),
        payload=(payload_type, ...),
    )


EVENT_ITEM_MODELS = tuple(_event_item_model(cls) for cls in catalog().values())
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
    session_id: UUID
    workspace_id: str
    status: str
    agent_id: str | None
    channel: str | None
    contact_name: str | None
    started_at: datetime | None
    last_message_at: datetime | None
    finished_at: datetime | None
    message_count: int
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
