"""What counts as a retry of a stored event (same ``event_id``), decided without a store:
the same event of the caller's own stream, or a refusal that reveals nothing of others'."""

from __future__ import annotations

from datetime import UTC, datetime
from uuid import UUID, uuid4

import pytest

from api.commands import Caller, NewEvent, _check_same_event, decide_missed_question_status
from domain.envelope import Actor, ActorKind, Envelope
from domain.errors import EventIdReused, PreviousValueMismatch, StreamNotFound
from domain.events import (
    EventPayload,
    FlagSet,
    MessageRecorded,
    MissedQuestionStatusChanged,
    SessionStarted,
)
from domain.session import EventContext, Session, seal_next

CALLER = Caller(workspace_id="w1", actor=Actor(kind=ActorKind.agent, id="runtime"))
OUTSIDER = Caller(workspace_id="w2", actor=CALLER.actor)
SAID_AT = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)
MESSAGE = {"message_id": "m1", "author_role": "customer", "author": "Bo", "text": "hi"}


def context(caller: Caller = CALLER) -> EventContext:
    return EventContext(**caller.model_dump(), recorded_at=SAID_AT)


def stored(
    payload: EventPayload, *, occurred_at: datetime | None = None, after: tuple = ()
) -> Envelope:
    """The envelope a started session stores for ``payload`` (recorded ``after`` others)."""
    session = Session(uuid4())
    for earlier in (SessionStarted(agent_id="a", channel="web"), *after):
        session.record(earlier, context())
    session.record(payload, context(), event_id=uuid4(), occurred_at=occurred_at)
    return session.collect_events()[-1]


def retried(envelope: Envelope, payload: EventPayload, **item) -> NewEvent:
    return NewEvent(payload, envelope.event_id, **item)


def check(envelope: Envelope, item: NewEvent, caller: Caller = CALLER) -> None:
    _check_same_event(envelope.stream_id, item, envelope, caller)


def test_the_same_message_resent_is_a_retry():
    original = stored(MessageRecorded.model_validate(MESSAGE), occurred_at=SAID_AT)
    check(original, retried(original, MessageRecorded.model_validate(MESSAGE)))
    check(original, retried(original, MessageRecorded(**MESSAGE), occurred_at=SAID_AT))


def test_a_retry_without_a_field_the_original_set_is_another_event():
    original = stored(MessageRecorded.model_validate(MESSAGE))
    without_author = {k: v for k, v in MESSAGE.items() if k != "author"}
    with pytest.raises(EventIdReused) as refused:
        check(original, retried(original, MessageRecorded.model_validate(without_author)))
    assert refused.value.field == "event_id"


def test_a_retry_that_happened_at_another_time_is_another_event():
    original = stored(MessageRecorded.model_validate(MESSAGE), occurred_at=SAID_AT)
    earlier = SAID_AT.replace(year=2020)
    with pytest.raises(EventIdReused):
        check(original, retried(original, MessageRecorded(**MESSAGE), occurred_at=earlier))


def test_a_retry_without_occurred_at_matches_the_time_the_server_stamped():
    original = stored(MessageRecorded.model_validate(MESSAGE))
    check(original, retried(original, MessageRecorded.model_validate(MESSAGE)))


def test_an_override_retried_without_previous_matches_the_previous_filled_in():
    flag = {"flag": "is_todo", "value": False, "reason": "called back"}
    todo = FlagSet(flag="is_todo", value=True, reason="call back")
    original = stored(FlagSet.model_validate(flag), after=(todo,))
    assert original.payload["previous"] is True
    check(original, retried(original, FlagSet.model_validate(flag)))
    check(original, retried(original, FlagSet.model_validate({**flag, "previous": True})))
    with pytest.raises(EventIdReused):
        check(original, retried(original, FlagSet.model_validate({**flag, "previous": None})))


def test_a_retry_by_another_workspace_is_as_if_the_session_did_not_exist():
    original = stored(MessageRecorded.model_validate(MESSAGE))
    same = retried(original, MessageRecorded.model_validate(MESSAGE))
    with pytest.raises(StreamNotFound):
        check(original, same, OUTSIDER)
    different = retried(original, MessageRecorded.model_validate({**MESSAGE, "text": "x"}))
    with pytest.raises(StreamNotFound):
        check(original, different, OUTSIDER)


def resolved_group():
    """A missed-question group's first event: a stream of another kind than a session."""
    status = MissedQuestionStatusChanged(status="resolved")
    return seal_next(uuid4(), 0, "0" * 64, status, context(), event_id=uuid4())


def test_a_session_event_retried_on_a_stream_of_another_kind_finds_no_session():
    group = resolved_group()
    with pytest.raises(StreamNotFound):
        check(group, retried(group, SessionStarted(agent_id="a", channel="web")))


def test_an_event_id_of_another_stream_is_reused():
    original = stored(MessageRecorded.model_validate(MESSAGE))
    item = retried(original, MessageRecorded.model_validate(MESSAGE))
    with pytest.raises(EventIdReused):
        _check_same_event(UUID(int=1), item, original, CALLER)


def test_a_group_status_mismatch_shows_values_as_json():
    resolved = resolved_group()
    with pytest.raises(PreviousValueMismatch) as refused:
        decide_missed_question_status(
            [resolved], MissedQuestionStatusChanged(status="ignored", previous="unresolved")
        )
    assert refused.value.message == 'the group\'s status is "resolved", not "unresolved"'
    with pytest.raises(PreviousValueMismatch) as refused:
        decide_missed_question_status(
            [], MissedQuestionStatusChanged(status="ignored", previous="resolved")
        )
    assert refused.value.message == 'the group\'s status is null, not "resolved"'
