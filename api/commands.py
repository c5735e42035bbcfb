"""The command side's service: load a session, let the aggregate decide, append what it decided.

The HTTP API, the CLI and the importers all record events through ``SessionCommands``, so
every path obeys the same rules, idempotency and concurrency control.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from uuid import UUID, uuid4

from pydantic import BaseModel, ConfigDict

from domain.envelope import Actor, Envelope
from domain.errors import DomainError, EventIdReused, StreamNotFound, VersionConflict
from domain.events import EventPayload, SessionStarted, decode_payload
from domain.session import EventContext, Session
from infra.event_store import EventIdTaken, EventStore, StreamVersionTaken


class Caller(BaseModel):
    """Who is asking, established by the front door (never taken from a request body)."""

    model_config = ConfigDict(frozen=True)

    workspace_id: str
    actor: Actor
    permissions: frozenset[str] = frozenset()
    correlation_id: UUID | None = None
    causation_id: UUID | None = None


@dataclass(frozen=True)
class NewEvent:
    payload: EventPayload
    event_id: UUID | None = None
    occurred_at: datetime | None = None


@dataclass(frozen=True)
class AppendResult:
    stream_id: UUID
    events: list[Envelope]
    duplicate: bool = False
    version: int = field(init=False)
    position: int = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "version", max(e.version for e in self.events))
        object.__setattr__(self, "position", max(e.position or 0 for e in self.events))


class AppendContention(DomainError):
    """Other writers kept winning the race for the stream's next version."""

    code = "append_contention"
    http_status = 503


class DuplicateEventIdInRequest(DomainError):
    code = "duplicate_event_id"
    http_status = 422

    def __init__(self, message: str) -> None:
        super().__init__(message, field="events")


def utcnow() -> datetime:
    return datetime.now(UTC)


class SessionCommands:
    def __init__(
        self,
        store: EventStore,
        *,
        clock: Callable[[], datetime] = utcnow,
        max_retries: int = 5,
    ) -> None:
        self.store = store
        self.clock = clock
        self.max_retries = max_retries

    def start(self, session_id: UUID, item: NewEvent, caller: Caller) -> AppendResult:
        if not isinstance(item.payload, SessionStarted):
            raise TypeError("a session starts with a SessionStarted payload")
        return self.append(session_id, [item], caller)

    def append(
        self,
        session_id: UUID,
        items: Sequence[NewEvent],
        caller: Caller,
        *,
        expected_version: int | None = None,
    ) -> AppendResult:
        """Record events on one session, all or none.

        Events whose id is already stored are not stored again (a retry); without an
        ``expected_version`` a lost race is retried against the new state, with one it is
        a ``VersionConflict``.
        """
        _check_unique_ids(items)
        for _attempt in range(self.max_retries):
            stored = self._already_stored(session_id, items)
            fresh = [item for item in items if item.event_id not in stored]
            if not fresh:
                return AppendResult(session_id, [stored[i.event_id] for i in items], True)
            session = self._load(session_id, first=fresh[0])
            _check_expected(session, expected_version)
            context = EventContext(**caller.model_dump(), recorded_at=self.clock())
            for item in fresh:
                session.record(
                    item.payload, context, event_id=item.event_id, occurred_at=item.occurred_at
                )
            pending = session.collect_events()
            try:
                positions = self.store.append(pending)
            except StreamVersionTaken:
                if expected_version is not None:
                    raise VersionConflict(
                        f"session {session_id} changed while appending "
                        f"(expected version {expected_version})",
                        expected=expected_version,
                        actual=-1,
                    ) from None
                continue
            except EventIdTaken:
                continue
            recorded = iter(
                e.model_copy(update={"position": p})
                for e, p in zip(pending, positions, strict=True)
            )
            return AppendResult(
                session_id,
                [stored[i.event_id] if i.event_id in stored else next(recorded) for i in items],
            )
        raise AppendContention(f"session {session_id}: too many concurrent writers, retry")

    def load(self, session_id: UUID, *, to_version: int | None = None) -> Session:
        history = self.store.read_stream(session_id, to_version=to_version)
        if not history:
            raise StreamNotFound(f"session {session_id} not found")
        return Session.replay(session_id, history)

    def _load(self, session_id: UUID, *, first: NewEvent) -> Session:
        session = Session.replay(session_id, self.store.read_stream(session_id))
        if session.version == 0 and not isinstance(first.payload, SessionStarted):
            raise StreamNotFound(f"session {session_id} not found")
        return session

    def _already_stored(self, session_id: UUID, items: Sequence[NewEvent]) -> dict[UUID, Envelope]:
        supplied = [item for item in items if item.event_id is not None]
        if not supplied:
            return {}
        stored = self.store.find_events([item.event_id for item in supplied])
        for item in supplied:
            if item.event_id in stored:
                _check_same_event(session_id, item, stored[item.event_id])
        return stored


def _check_unique_ids(items: Sequence[NewEvent]) -> None:
    supplied = [item.event_id for item in items if item.event_id is not None]
    if len(supplied) != len(set(supplied)):
        raise DuplicateEventIdInRequest("the same event id appears twice in one request")


def _check_expected(session: Session, expected_version: int | None) -> None:
    if expected_version is not None and session.version != expected_version:
        raise VersionConflict(
            f"session {session.id} is at version {session.version}, "
            f"not the expected {expected_version}",
            expected=expected_version,
            actual=session.version,
        )


def _check_same_event(session_id: UUID, item: NewEvent, stored: Envelope) -> None:
    """A retry must resend the same event. Only the fields the client sent are compared:
    the aggregate completes others (an override's ``previous`` value) when it records."""
    sent = item.payload.model_fields_set
    same = (
        stored.stream_id == session_id
        and stored.type == item.payload.event_type
        and decode_payload(stored.type, stored.schema_version, stored.payload).model_dump(
            include=sent
        )
        == item.payload.model_dump(include=sent)
    )
    if not same:
        raise EventIdReused(
            f"event id {item.event_id} is already stored for a different event", field="event_id"
        )


def new_session_id() -> UUID:
    return uuid4()
