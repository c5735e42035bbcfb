"""audit_trail: every human or API action that changed a judgement — who, when, what,
before → after, why, and the event (id, position, hash) that holds it.

``AUDITED`` says how each audited event type reads as a change; auditing another type (say
``rules.published``) is one more line there. ``audit_entry`` is the pure fold (event -> entry).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from psycopg import Cursor
from psycopg.types.json import Jsonb

from domain.envelope import Envelope
from domain.events import (
    CommentAdded,
    FlagSet,
    HandoverRequested,
    HumanAgentAssigned,
    HumanAssessmentCleared,
    HumanAssessmentSet,
    MissedQuestionStatusChanged,
    RulesPublished,
    SessionResolved,
    TagAdded,
    TagRemoved,
    decode_payload,
)
from projections.batch import executemany
from projections.tables import over, schema_over

_FROM_PAYLOAD = object()


@dataclass(frozen=True)
class Audited:
    """How one event type reads as a change. Strings name payload fields; ``field`` is a
    template over the payload; ``after_value`` is a constant new value instead of ``after``."""

    field: str
    after: str | None = None
    after_value: Any = _FROM_PAYLOAD
    before: str | None = "previous"
    reason: str | None = "reason"

    def read(self, payload: dict[str, Any]) -> tuple[str, Any, Any, str | None]:
        """(field, before, after, reason) of this payload."""
        after = payload.get(self.after) if self.after_value is _FROM_PAYLOAD else self.after_value
        return (
            self.field.format(**payload),
            payload.get(self.before) if self.before else None,
            after,
            payload.get(self.reason) if self.reason else None,
        )


AUDITED: dict[str, Audited] = {
    HumanAssessmentSet.event_type: Audited("human_assessment", after="assessment"),
    HumanAssessmentCleared.event_type: Audited("human_assessment", after_value=None),
    FlagSet.event_type: Audited("flags.{flag}", after="value"),
    TagAdded.event_type: Audited("tags.{tag}", after_value=True),
    TagRemoved.event_type: Audited("tags.{tag}", after_value=False),
    CommentAdded.event_type: Audited("comments.{comment_id}", after="text", before=None),
    HandoverRequested.event_type: Audited("handover", after="trigger", before=None),
    HumanAgentAssigned.event_type: Audited("human_agent", after="agent_id"),
    SessionResolved.event_type: Audited(
        "status", after_value="resolved", before=None, reason="note"
    ),
    MissedQuestionStatusChanged.event_type: Audited("status", after="status"),
    RulesPublished.event_type: Audited("rules", after="rules", before=None),
}


@dataclass(frozen=True)
class AuditEntry:
    event_id: UUID
    workspace_id: str
    stream_id: UUID
    stream_type: str
    version: int
    position: int | None
    event_type: str
    action: str
    field: str
    before: Any
    after: Any
    reason: str | None
    actor_kind: str
    actor_id: str
    actor_name: str
    occurred_at: datetime
    recorded_at: datetime
    hash: str


def audit_entry(event: Envelope) -> AuditEntry | None:
    """The audit entry of ``event``, or ``None`` when its type changes no judgement."""
    audited = AUDITED.get(event.type)
    if audited is None:
        return None
    payload = decode_payload(event.type, event.schema_version, event.payload)
    field, before, after, reason = audited.read(payload.model_dump(mode="json"))
    return AuditEntry(
        event_id=event.event_id,
        workspace_id=event.workspace_id,
        stream_id=event.stream_id,
        stream_type=event.stream_type,
        version=event.version,
        position=event.position,
        event_type=event.type,
        action=event.type.partition(".")[2],
        field=field,
        before=before,
        after=after,
        reason=reason,
        actor_kind=event.actor.kind.value,
        actor_id=event.actor.id,
        actor_name=event.actor.name,
        occurred_at=event.occurred_at,
        recorded_at=event.recorded_at,
        hash=event.hash,
    )


COLUMNS = tuple(AuditEntry.__dataclass_fields__)
INSERT = (
    f"INSERT INTO {{audit_trail}} ({', '.join(COLUMNS)})"
    f" VALUES ({', '.join(['%s'] * len(COLUMNS))}) ON CONFLICT (event_id) DO NOTHING"
)


class AuditTrailProjection:
    name = "audit_trail"

    def __init__(self, *, table: str = "audit_trail", name: str = "audit_trail") -> None:
        # ``name`` keys the exactly-once bookkeeping: a rebuilt generation has its own.
        self.name = name
        self.tables = {"audit_trail": table}
        self.insert = over(INSERT, self.tables)

    def schema(self) -> list[str]:
        return [schema_over("audit_trail.sql", self.tables)]

    def apply(self, cur: Cursor, streams: dict[UUID, list[Envelope]]) -> None:
        entries = [
            entry for events in streams.values() for e in events if (entry := audit_entry(e))
        ]
        executemany(cur, self.insert, [_values(entry) for entry in entries])


def _values(entry: AuditEntry) -> tuple:
    # JSON, so that a before/after keeps its type (false, "Yes-A", null) in the table.
    return tuple(
        Jsonb(value) if name in ("before", "after") else value
        for name, value in vars(entry).items()
    )
