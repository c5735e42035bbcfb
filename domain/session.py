"""The Session aggregate: one conversation, folded from its events, deciding what may happen next.

``Session.record`` decides (``decide``: the session rules against the current state, then the
override's ``previous`` completed from it), wraps the payload in a sealed envelope (next
version, chained hash) and applies it; ``Session.replay`` folds stored envelopes. The same
``apply`` serves both, so the live state always equals the fold of history.

Rules registered with ``@rule(*PayloadTypes)`` run in registration order and raise a named
``DomainError``; ``@replaces(*OverrideTypes)`` names the state value an override replaces;
``@evolves(PayloadType)`` changes the state.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Any, Protocol, TypeVar
from uuid import UUID, uuid4

from pydantic import BaseModel, ConfigDict

from domain import errors
from domain.envelope import Actor, ActorKind, Envelope, seal_envelope
from domain.errors import as_json
from domain.events import (
    CUSTOMER_VISIBLE_ROLES,
    CommentAdded,
    ContactIdentified,
    EventPayload,
    FlagSet,
    FormSubmitted,
    GoalReached,
    HandoverRequested,
    HumanAgentAssigned,
    HumanAssessmentCleared,
    HumanAssessmentSet,
    JourneyBlockEntered,
    MessageDeliveryUpdated,
    MessageReacted,
    MessageRecorded,
    Override,
    QuestionMissed,
    ResultCollected,
    SentimentScored,
    SessionAnalyzed,
    SessionClosed,
    SessionResolved,
    SessionStarted,
    TagAdded,
    TagChange,
    TagRemoved,
    decode_payload,
)
from domain.session_state import (
    CommentEntry,
    FormEntry,
    GoalEntry,
    Handover,
    HumanOwner,
    JourneyBlockEntry,
    MissedQuestionEntry,
    ReactionEntry,
    Recorded,
    SentimentEntry,
    SessionState,
    SessionStatus,
    TranscriptEntry,
)
from domain.values import utc

__all__ = [
    "CONVERSATION_EVENTS",
    "HANDOVER_PERMISSION",
    "REVIEW_WORK",
    "STREAM_TYPE",
    "EventContext",
    "Session",
    "SessionState",
    "SessionStatus",
    "TranscriptEntry",
    "decide",
    "evolves",
    "replaces",
    "rule",
]

STREAM_TYPE = "session"
HANDOVER_PERMISSION = "handover"
# Callers that speak for themselves need the permission; the agent runtime and the ledger
# itself hand over automatically (a rule fired, the customer asked the bot).
_ACTORS_NEEDING_PERMISSION = frozenset({ActorKind.user, ActorKind.api_key})

# Judgements about a conversation may go on after it ended...
REVIEW_WORK: frozenset[type[EventPayload]] = frozenset(
    {
        SessionAnalyzed,
        HumanAssessmentSet,
        HumanAssessmentCleared,
        FlagSet,
        TagAdded,
        TagRemoved,
        CommentAdded,
        SentimentScored,
        MessageDeliveryUpdated,
        MessageReacted,
    }
)
# ...the conversation itself may not. (A handover refuses a finished session with its own,
# more specific error, so it is in neither set; see ``_handover_allowed``.)
CONVERSATION_EVENTS: tuple[type[EventPayload], ...] = (
    MessageRecorded,
    GoalReached,
    JourneyBlockEntered,
    FormSubmitted,
    ResultCollected,
    ContactIdentified,
    QuestionMissed,
    HumanAgentAssigned,
    SessionResolved,
    SessionClosed,
)


class EventContext(BaseModel):
    """Who is recording, on whose behalf, with which permissions, and when the ledger accepts it.

    ``permissions`` are what the authenticated caller may do (the API derives them from the
    key's role); rules that need one say so, e.g. ``HANDOVER_PERMISSION``.
    """

    model_config = ConfigDict(frozen=True)

    workspace_id: str
    actor: Actor
    recorded_at: datetime
    correlation_id: UUID | None = None
    causation_id: UUID | None = None
    rules_version: int | None = None
    permissions: frozenset[str] = frozenset()


P = TypeVar("P", bound=EventPayload)
OverrideT = TypeVar("OverrideT", bound=Override)
Rule = Callable[[SessionState, Any, EventContext], None]
_RULES: dict[type[EventPayload], list[Rule]] = {}
_REPLACED_VALUE: dict[type[Override], Callable[[SessionState, Any], Any]] = {}
_EVOLVERS: dict[type[EventPayload], Callable[[SessionState, Any, Envelope], None]] = {}


def rule(*payload_types: type[P]):
    """Register a check that a payload of these types may be recorded now (raise to refuse)."""

    def register(fn: Callable[[SessionState, P, EventContext], None]):
        for payload_type in payload_types:
            _RULES.setdefault(payload_type, []).append(fn)
        return fn

    return register


def replaces(*override_types: type[OverrideT]):
    """Register which state value a payload replaces; it becomes the event's ``previous``."""

    def register(fn: Callable[[SessionState, OverrideT], Any]):
        for override_type in override_types:
            _REPLACED_VALUE[override_type] = fn
        return fn

    return register


def evolves(payload_type: type[P]):
    """Register how a recorded payload of this type changes the state."""

    def register(fn: Callable[[SessionState, P, Envelope], None]):
        _EVOLVERS[payload_type] = fn
        return fn

    return register


def decide(state: SessionState, payload: EventPayload, context: EventContext) -> EventPayload:
    """Refuse the payload (a ``DomainError``) or return it exactly as it is to be recorded."""
    if payload.stream_type != STREAM_TYPE:
        raise errors.WrongStream(f"{payload.event_type} is not an event of a session stream")
    if not isinstance(payload, SessionStarted) and state.status is None:
        raise errors.SessionNotStarted(f"session {state.id} has not been started")
    for check in _RULES.get(type(payload), ()):
        check(state, payload, context)
    if type(payload) in _REPLACED_VALUE:
        return _with_actual_previous(state, payload)
    return payload


def _with_actual_previous(state: SessionState, payload: Override) -> Override:
    actual = _REPLACED_VALUE[type(payload)](state, payload)
    # Omitted means "whatever it is now"; sent (even null) means "I saw this": check it.
    if "previous" not in payload.model_fields_set:
        return payload.model_copy(update={"previous": actual})
    claimed = payload.previous  # type: ignore[attr-defined]
    if claimed != actual:
        raise errors.PreviousValueMismatch(
            f"{payload.event_type}: the session holds {as_json(actual)}, not {as_json(claimed)}",
            expected=claimed,
            actual=actual,
        )
    return payload


class Session:
    def __init__(self, stream_id: UUID) -> None:
        self.state = SessionState(id=stream_id)
        self._pending: list[Envelope] = []

    @property
    def id(self) -> UUID:
        return self.state.id

    @property
    def version(self) -> int:
        return self.state.version

    @classmethod
    def replay(cls, stream_id: UUID, history: Iterable[Envelope]) -> Session:
        session = cls(stream_id)
        for envelope in history:
            session.apply(envelope)
        return session

    def record(
        self,
        payload: EventPayload,
        context: EventContext,
        *,
        event_id: UUID | None = None,
        occurred_at: datetime | None = None,
    ) -> Envelope:
        """Decide, seal and apply one event; the envelope holds the payload as recorded."""
        decided = decide(self.state, payload, context)
        envelope = self._seal(decided, context, event_id or uuid4(), occurred_at)
        # The decided payload is what the envelope's payload decodes to: no need to decode
        # (validate) it again.
        self._evolve(envelope, decided)
        self._pending.append(envelope)
        return envelope

    def apply(self, envelope: Envelope) -> None:
        payload = decode_payload(envelope.type, envelope.schema_version, envelope.payload)
        self._evolve(envelope, payload)

    def _evolve(self, envelope: Envelope, payload: EventPayload) -> None:
        _EVOLVERS[type(payload)](self.state, payload, envelope)
        self.state.version = envelope.version
        self.state.last_hash = envelope.hash

    def collect_events(self) -> list[Envelope]:
        pending, self._pending = self._pending, []
        return pending

    def _seal(
        self,
        payload: EventPayload,
        context: EventContext,
        event_id: UUID,
        occurred_at: datetime | None,
    ) -> Envelope:
        return seal_next(
            self.id,
            self.version,
            self.state.last_hash,
            payload,
            context,
            event_id=event_id,
            occurred_at=occurred_at,
        )


def seal_next(
    stream_id: UUID,
    version: int,
    prev_hash: str,
    payload: EventPayload,
    context: EventContext,
    *,
    event_id: UUID,
    occurred_at: datetime | None = None,
) -> Envelope:
    """The sealed envelope that follows ``version`` (whose hash is ``prev_hash``) on any
    stream: the next version, chained to the previous hash, stamped with the context."""
    recorded_at = utc(context.recorded_at)
    document = {
        "event_id": event_id,
        "stream_id": stream_id,
        "stream_type": payload.stream_type,
        "version": version + 1,
        "type": payload.event_type,
        "schema_version": payload.schema_version,
        "workspace_id": context.workspace_id,
        "occurred_at": utc(occurred_at or recorded_at),
        "recorded_at": recorded_at,
        "actor": context.actor,
        "correlation_id": context.correlation_id,
        "causation_id": context.causation_id,
        "rules_version": context.rules_version,
        "prev_hash": prev_hash,
        "payload": payload.model_dump(mode="json"),
    }
    return seal_envelope(document)


# --- rules ------------------------------------------------------------------------------------


class _RefersToMessage(Protocol):
    message_id: str | None


@rule(SessionStarted)
def _start_once(state: SessionState, _payload: SessionStarted, _context: EventContext) -> None:
    if state.status is not None:
        raise errors.SessionAlreadyStarted(f"session {state.id} was already started")


@rule(*CONVERSATION_EVENTS)
def _conversation_still_open(
    state: SessionState, payload: EventPayload, _context: EventContext
) -> None:
    if state.status is SessionStatus.closed:
        raise errors.SessionClosed(
            f"session {state.id} is closed: {payload.event_type} cannot be recorded"
        )


@rule(MessageRecorded)
def _message_id_unique(
    state: SessionState, payload: MessageRecorded, _context: EventContext
) -> None:
    if state.transcript_entry(payload.message_id) is not None:
        raise errors.MessageAlreadyRecorded(
            f"message {payload.message_id!r} is already in session {state.id}", field="message_id"
        )


@rule(MessageReacted, MessageDeliveryUpdated, SentimentScored, GoalReached, QuestionMissed)
def _refers_to_recorded_message(
    state: SessionState, payload: _RefersToMessage, _context: EventContext
) -> None:
    if payload.message_id is not None and state.transcript_entry(payload.message_id) is None:
        raise errors.UnknownMessage(
            f"session {state.id} has no message {payload.message_id!r}", field="message_id"
        )


@rule(HandoverRequested)
def _handover_allowed(
    state: SessionState, _payload: HandoverRequested, context: EventContext
) -> None:
    # Permission first, so a caller without it learns nothing about the session's state.
    if context.actor.kind in _ACTORS_NEEDING_PERMISSION and (
        HANDOVER_PERMISSION not in context.permissions
    ):
        raise errors.HandoverNotPermitted(
            f"{context.actor.kind.value} {context.actor.id!r} lacks the "
            f"{HANDOVER_PERMISSION!r} permission"
        )
    if state.status in (SessionStatus.closed, SessionStatus.resolved):
        raise errors.HandoverSessionFinished(f"session {state.id} is already {state.status}")
    if state.status is SessionStatus.handed_over:
        raise errors.HandoverAlreadyWithOperator(
            f"session {state.id} was already handed over and is not resolved"
        )


@rule(HumanAgentAssigned)
def _assignment_needs_handover(
    state: SessionState, _payload: HumanAgentAssigned, _context: EventContext
) -> None:
    if state.status is not SessionStatus.handed_over:
        raise errors.AssignmentWithoutHandover(
            f"session {state.id} has no open handover to assign a human agent to"
        )


@replaces(HumanAgentAssigned)
def _replaced_human_agent(state: SessionState, _payload: HumanAgentAssigned) -> str | None:
    return state.owner.agent_id if state.owner else None


@rule(SessionResolved)
def _resolve_needs_human_owner(
    state: SessionState, _payload: SessionResolved, _context: EventContext
) -> None:
    if state.status is SessionStatus.resolved:
        raise errors.SessionAlreadyResolved(f"session {state.id} is already resolved")
    if state.owner is None:
        raise errors.ResolveWithoutHumanOwner(
            f"session {state.id} has no human agent assigned who could resolve it"
        )


# --- what an override replaces ----------------------------------------------------------------


@replaces(HumanAssessmentSet, HumanAssessmentCleared)
def _human_assessment(state: SessionState, _payload: Override) -> Any:
    return state.human_assessment


@replaces(FlagSet)
def _flag(state: SessionState, payload: FlagSet) -> bool | None:
    return state.flags.get(payload.flag)


@replaces(TagAdded, TagRemoved)
def _tag_present(state: SessionState, payload: TagChange) -> bool:
    return payload.tag in state.tags


# --- evolution --------------------------------------------------------------------------------


def _stamp(envelope: Envelope) -> dict[str, Any]:
    """The ``Recorded`` fields of an entry made from this envelope."""
    return {"version": envelope.version, "occurred_at": envelope.occurred_at}


def _later_of(current: datetime | None, candidate: datetime) -> datetime:
    # Late arrivals keep their place in the stream but never move the clock back.
    return candidate if current is None or candidate > current else current


def _message_entry(state: SessionState, message_id: str) -> TranscriptEntry:
    entry = state.transcript_entry(message_id)
    if entry is None:  # the rules guarantee it; a stored stream that breaks them is corrupt
        raise LookupError(f"session {state.id} has no message {message_id!r}")
    return entry


# Fields of session.started the state keeps exactly as given.
_KEPT_AS_STARTED = (
    "agent_id",
    "agent_version",
    "deployment",
    "initiator",
    "contact",
    "parameters",
    "utm",
    "ip",
    "location",
    "integration",
)


@evolves(SessionStarted)
def _started(state: SessionState, payload: SessionStarted, envelope: Envelope) -> None:
    state.workspace_id = envelope.workspace_id
    state.status = SessionStatus.active
    for field in _KEPT_AS_STARTED:
        setattr(state, field, getattr(payload, field))
    state.channel = payload.channel.value
    state.external_id = payload.external_id or payload.contact.external_id
    state.started_at = envelope.occurred_at


@evolves(MessageRecorded)
def _message(state: SessionState, payload: MessageRecorded, envelope: Envelope) -> None:
    state.transcript.append(TranscriptEntry(**_stamp(envelope), **payload.model_dump()))
    if payload.author_role in CUSTOMER_VISIBLE_ROLES:
        state.message_count += 1
        state.last_message_at = _later_of(state.last_message_at, envelope.occurred_at)


@evolves(MessageReacted)
def _reacted(state: SessionState, payload: MessageReacted, envelope: Envelope) -> None:
    reaction = ReactionEntry(**_stamp(envelope), **payload.model_dump(exclude={"message_id"}))
    _message_entry(state, payload.message_id).reactions.append(reaction)


@evolves(MessageDeliveryUpdated)
def _delivery(state: SessionState, payload: MessageDeliveryUpdated, envelope: Envelope) -> None:
    entry = _message_entry(state, payload.message_id)
    # Channel webhooks race: "delivered" may be accepted after "read"; the later time wins.
    if entry.delivery_updated_at is not None and envelope.occurred_at < entry.delivery_updated_at:
        return
    entry.delivery_status = payload.status
    entry.delivery_error = payload.error
    entry.delivery_updated_at = envelope.occurred_at


@evolves(SentimentScored)
def _sentiment(state: SessionState, payload: SentimentScored, envelope: Envelope) -> None:
    score = SentimentEntry(**_stamp(envelope), label=payload.label, score=payload.score)
    if payload.message_id is None:  # the model allows it only for scope "session"
        state.sentiment = score
    else:
        _message_entry(state, payload.message_id).sentiment = score


def _appends(
    payload_type: type[EventPayload],
    entries: Callable[[SessionState], list[Any]],
    entry_type: type[Recorded],
) -> None:
    """Register the evolution that appends the payload, stamped, to one list of the state."""

    def append(state: SessionState, payload: EventPayload, envelope: Envelope) -> None:
        entries(state).append(entry_type(**_stamp(envelope), **payload.model_dump()))

    evolves(payload_type)(append)


_appends(GoalReached, lambda state: state.goals, GoalEntry)
_appends(JourneyBlockEntered, lambda state: state.journey_blocks, JourneyBlockEntry)
_appends(FormSubmitted, lambda state: state.forms, FormEntry)


@evolves(ResultCollected)
def _result(state: SessionState, payload: ResultCollected, _envelope: Envelope) -> None:
    state.results[payload.key] = payload.value


@evolves(ContactIdentified)
def _identified(state: SessionState, payload: ContactIdentified, _envelope: Envelope) -> None:
    state.contact = state.contact.merged_with(payload.contact)
    # As the session list has it: an id learnt later fills the one the start left empty.
    state.external_id = state.external_id or payload.contact.external_id


@evolves(QuestionMissed)
def _missed(state: SessionState, payload: QuestionMissed, envelope: Envelope) -> None:
    state.missed_questions.append(MissedQuestionEntry(**_stamp(envelope), **payload.model_dump()))
    _message_entry(state, payload.message_id).missed = True


@evolves(HandoverRequested)
def _handover(state: SessionState, payload: HandoverRequested, envelope: Envelope) -> None:
    state.handover = Handover(
        **_stamp(envelope), **payload.model_dump(), requested_by=envelope.actor
    )
    state.status = SessionStatus.handed_over


@evolves(HumanAgentAssigned)
def _assigned(state: SessionState, payload: HumanAgentAssigned, envelope: Envelope) -> None:
    state.owner = HumanOwner(
        **_stamp(envelope), agent_id=payload.agent_id, agent_name=payload.agent_name
    )
    state.status = SessionStatus.handed_over


@evolves(SessionResolved)
def _resolved(state: SessionState, payload: SessionResolved, envelope: Envelope) -> None:
    state.status = SessionStatus.resolved
    state.resolved_at = envelope.occurred_at
    state.resolution_note = payload.note


@evolves(SessionClosed)
def _closed(state: SessionState, payload: SessionClosed, envelope: Envelope) -> None:
    state.status = SessionStatus.closed
    state.finished_at = envelope.occurred_at
    state.close_reason = payload.reason


@evolves(SessionAnalyzed)
def _analyzed(state: SessionState, payload: SessionAnalyzed, _envelope: Envelope) -> None:
    state.analysis = payload


@evolves(HumanAssessmentSet)
def _assessed(state: SessionState, payload: HumanAssessmentSet, _envelope: Envelope) -> None:
    state.human_assessment = payload.assessment
    state.human_assessment_reason = payload.reason


@evolves(HumanAssessmentCleared)
def _assessment_cleared(
    state: SessionState, _payload: HumanAssessmentCleared, _envelope: Envelope
) -> None:
    state.human_assessment = None
    state.human_assessment_reason = None


@evolves(FlagSet)
def _flag_set(state: SessionState, payload: FlagSet, _envelope: Envelope) -> None:
    state.flags[payload.flag] = payload.value


@evolves(TagAdded)
def _tag_added(state: SessionState, payload: TagAdded, _envelope: Envelope) -> None:
    state.tags = sorted({*state.tags, payload.tag})


@evolves(TagRemoved)
def _tag_removed(state: SessionState, payload: TagRemoved, _envelope: Envelope) -> None:
    state.tags = [tag for tag in state.tags if tag != payload.tag]


@evolves(CommentAdded)
def _commented(state: SessionState, payload: CommentAdded, envelope: Envelope) -> None:
    comment = CommentEntry(**_stamp(envelope), **payload.model_dump(), author=envelope.actor)
    state.comments.append(comment)
