"""The Session aggregate: every refusal, every state change, overrides and schema evolution."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from uuid import uuid4

import pytest

from domain import errors
from domain.envelope import Actor, ActorKind, Envelope, compute_hash, seal
from domain.events import (
    Assessment,
    AuthorRole,
    CommentAdded,
    Contact,
    ContactIdentified,
    DeliveryStatus,
    EventPayload,
    Flag,
    FlagSet,
    FormSubmitted,
    GoalReached,
    HandoverRequested,
    HandoverTrigger,
    HumanAgentAssigned,
    HumanAssessmentCleared,
    HumanAssessmentSet,
    JourneyBlockEntered,
    MessageDeliveryUpdated,
    MessageReacted,
    MessageRecorded,
    MissedQuestionStatusChanged,
    QuestionMissed,
    Reaction,
    ReactorRole,
    ResultCollected,
    SentimentLabel,
    SentimentScope,
    SentimentScored,
    SessionAnalyzed,
    SessionClosed,
    SessionResolved,
    SessionStarted,
    TagAdded,
    TagRemoved,
    ValidationError,
    catalog,
    decode_payload,
)
from domain.session import (
    CONVERSATION_EVENTS,
    HANDOVER_PERMISSION,
    REVIEW_WORK,
    EventContext,
    Session,
    SessionStatus,
)

T0 = datetime(2025, 3, 1, 9, 0, tzinfo=UTC)
BOT = Actor(kind=ActorKind.agent, id="agent-runtime")


def caller(kind: ActorKind = ActorKind.agent, *permissions: str) -> EventContext:
    return EventContext(
        workspace_id="ws-1",
        actor=Actor(kind=kind, id=f"{kind.value}-1"),
        recorded_at=T0,
        permissions=frozenset(permissions),
    )


def record(
    session: Session, payload: EventPayload, *, minutes: int = 0, by: EventContext | None = None
) -> Envelope:
    """Record at T0 + minutes, by the agent runtime unless another caller is given."""
    occurred_at = T0 + timedelta(minutes=minutes)
    return session.record(payload, by or caller(), occurred_at=occurred_at)


def started(*, with_message: bool = True) -> Session:
    session = Session(uuid4())
    record(session, SessionStarted(agent_id="agent-1", channel="web"))
    if with_message:
        record(session, MessageRecorded(message_id="m1", author_role="customer", text="Hi"))
    return session


def handed_over() -> Session:
    session = started()
    record(session, HandoverRequested(trigger=HandoverTrigger.automatic))
    return session


def assigned() -> Session:
    session = handed_over()
    record(session, HumanAgentAssigned(agent_id="op-7", agent_name="Olga"))
    return session


def resolved() -> Session:
    session = assigned()
    record(session, SessionResolved(note="done"))
    return session


def closed() -> Session:
    session = started()
    record(session, SessionClosed(reason="timeout"))
    return session


def refused(session: Session, payload: EventPayload, error: type[errors.DomainError], *, by=None):
    """Assert the record is refused with exactly this error and changes nothing."""
    before = session.state.model_copy(deep=True)
    with pytest.raises(error) as raised:
        record(session, payload, by=by)
    assert type(raised.value) is error
    assert session.state == before
    return raised.value


# One valid example of every session event, valid on a started session holding message m1.
EXAMPLES: dict[type[EventPayload], EventPayload] = {
    SessionStarted: SessionStarted(agent_id="agent-1", channel="web"),
    MessageRecorded: MessageRecorded(message_id="m2", author_role="ai", text="Hello"),
    MessageReacted: MessageReacted(
        message_id="m1", reaction=Reaction.thumbs_up, by_role=ReactorRole.customer
    ),
    MessageDeliveryUpdated: MessageDeliveryUpdated(message_id="m1", status="read"),
    SentimentScored: SentimentScored(scope="session", label="positive", score=0.5),
    GoalReached: GoalReached(goal="booking", value=120.0, message_id="m1"),
    JourneyBlockEntered: JourneyBlockEntered(block_id="b1", name="Greeting"),
    FormSubmitted: FormSubmitted(form_name="booking", fields={"guests": 4, "vip": True}),
    ResultCollected: ResultCollected(key="date", value="2025-03-02"),
    ContactIdentified: ContactIdentified(contact=Contact(email="a@example.com")),
    QuestionMissed: QuestionMissed(message_id="m1", question="Do you deliver?", source="api"),
    HandoverRequested: HandoverRequested(trigger="customer_request"),
    HumanAgentAssigned: HumanAgentAssigned(agent_id="op-7", agent_name="Olga"),
    SessionResolved: SessionResolved(),
    SessionClosed: SessionClosed(),
    SessionAnalyzed: SessionAnalyzed(
        summary="Booked a table",
        is_lead=True,
        units=4,
        auto_assessment="Yes-B",
        conversation_quality=4,
    ),
    HumanAssessmentSet: HumanAssessmentSet(assessment="No", reason="wrong date"),
    HumanAssessmentCleared: HumanAssessmentCleared(reason="second look"),
    FlagSet: FlagSet(flag="is_test", value=True, reason="internal QA"),
    TagAdded: TagAdded(tag="vip"),
    TagRemoved: TagRemoved(tag="vip"),
    CommentAdded: CommentAdded(comment_id="c1", text="Nice save", reason="coaching"),
}


def by_name(types) -> list:
    return [pytest.param(t, id=t.event_type) for t in types]


def test_every_session_event_has_an_example_and_a_close_policy():
    session_types = {t for t in catalog().values() if t.stream_type == "session"}
    assert set(EXAMPLES) == session_types
    policies = [REVIEW_WORK, set(CONVERSATION_EVENTS), {SessionStarted, HandoverRequested}]
    for event_type in session_types:
        assert sum(event_type in policy for policy in policies) == 1, event_type.event_type


# --- refusals ---------------------------------------------------------------------------------


@pytest.mark.parametrize("event_type", by_name(set(EXAMPLES) - {SessionStarted}))
def test_nothing_before_the_start(event_type):
    refused(Session(uuid4()), EXAMPLES[event_type], errors.SessionNotStarted)


def test_a_session_starts_once():
    refused(started(), EXAMPLES[SessionStarted], errors.SessionAlreadyStarted)


@pytest.mark.parametrize("event_type", by_name(CONVERSATION_EVENTS))
def test_the_conversation_stops_at_close(event_type):
    error = refused(closed(), EXAMPLES[event_type], errors.SessionClosed)
    assert event_type.event_type in error.message


@pytest.mark.parametrize("event_type", by_name(REVIEW_WORK))
def test_review_work_goes_on_after_close(event_type):
    session = closed()
    record(session, EXAMPLES[event_type])
    assert session.state.status is SessionStatus.closed


def test_message_ids_are_unique():
    payload = MessageRecorded(message_id="m1", author_role="ai", text="again")
    refused(started(), payload, errors.MessageAlreadyRecorded)


REFERS_TO_MESSAGE = [
    MessageReacted(message_id="nope", reaction="thumbs_down", by_role="customer"),
    MessageDeliveryUpdated(message_id="nope", status="failed", error="blocked"),
    SentimentScored(scope="message", message_id="nope", label="neutral", score=0),
    GoalReached(goal="booking", message_id="nope"),
    QuestionMissed(message_id="nope", question="Open on Sunday?", source="workflow", node="n1"),
]


@pytest.mark.parametrize("payload", REFERS_TO_MESSAGE, ids=lambda p: p.event_type)
def test_references_to_unknown_messages_are_refused(payload):
    refused(started(), payload, errors.UnknownMessage)


@pytest.mark.parametrize("session", [closed, resolved], ids=["closed", "resolved"])
def test_no_handover_once_finished(session):
    refused(session(), HandoverRequested(trigger="manual"), errors.HandoverSessionFinished)


@pytest.mark.parametrize("session", [handed_over, assigned], ids=["requested", "assigned"])
def test_no_second_handover_while_with_an_operator(session):
    payload = HandoverRequested(trigger="customer_request")
    refused(session(), payload, errors.HandoverAlreadyWithOperator)


@pytest.mark.parametrize("kind", [ActorKind.user, ActorKind.api_key])
def test_people_and_keys_need_the_handover_permission(kind):
    payload = HandoverRequested(trigger="manual")
    error = refused(started(), payload, errors.HandoverNotPermitted, by=caller(kind))
    assert error.http_status == 403
    session = started()
    record(session, payload, by=caller(kind, HANDOVER_PERMISSION))
    assert session.state.status is SessionStatus.handed_over


def test_permission_is_checked_before_the_session_state():
    # A caller without the permission must not learn that the session is already handed over.
    refused(
        handed_over(),
        HandoverRequested(trigger="manual"),
        errors.HandoverNotPermitted,
        by=caller(ActorKind.user),
    )


@pytest.mark.parametrize("kind", [ActorKind.agent, ActorKind.system])
def test_agents_and_the_ledger_hand_over_without_permission(kind):
    session = started()
    record(session, HandoverRequested(trigger="automatic"), by=caller(kind))
    assert session.state.status is SessionStatus.handed_over


@pytest.mark.parametrize("session", [started, resolved], ids=["never", "resolved"])
def test_assignment_needs_an_open_handover(session):
    payload = HumanAgentAssigned(agent_id="op-1")
    refused(session(), payload, errors.AssignmentWithoutHandover)


@pytest.mark.parametrize("session", [started, handed_over], ids=["active", "unassigned"])
def test_resolving_needs_a_human_owner(session):
    refused(session(), SessionResolved(), errors.ResolveWithoutHumanOwner)


def test_a_session_resolves_once():
    refused(resolved(), SessionResolved(), errors.SessionAlreadyResolved)


def test_events_of_other_streams_are_refused():
    payload = MissedQuestionStatusChanged(status="resolved")
    refused(started(), payload, errors.WrongStream)


def test_refusals_are_conflicts_except_where_said():
    assert errors.HandoverNotPermitted.http_status == 403
    conflicts = [
        errors.HandoverSessionFinished,
        errors.HandoverAlreadyWithOperator,
        errors.AssignmentWithoutHandover,
        errors.ResolveWithoutHumanOwner,
        errors.SessionAlreadyResolved,
        errors.SessionClosed,
        errors.MessageAlreadyRecorded,
        errors.UnknownMessage,
        errors.PreviousValueMismatch,
    ]
    assert {error.http_status for error in conflicts} == {409}
    assert len({error.code for error in conflicts}) == len(conflicts)


# --- overrides: the value they replace ------------------------------------------------------


def test_an_omitted_previous_is_filled_in_from_the_state():
    session = started()
    first = record(session, HumanAssessmentSet(assessment="Yes-A", reason="booked"))
    second = record(session, HumanAssessmentSet(assessment="No", reason="no-show"))
    cleared = record(session, HumanAssessmentCleared(reason="undo"))
    assert [e.payload["previous"] for e in (first, second, cleared)] == [None, "Yes-A", "No"]


def test_a_stated_previous_must_match_the_state():
    session = started()
    record(session, FlagSet(flag="is_todo", value=True, reason="follow up"))
    stale = FlagSet(flag="is_todo", value=False, reason="done", previous=None)
    error = refused(session, stale, errors.PreviousValueMismatch)
    assert (error.expected, error.actual, error.field) == (None, True, "previous")
    assert error.message.endswith("the session holds true, not null")  # as JSON, not repr
    agreed = FlagSet(flag="is_todo", value=False, reason="done", previous=True)
    assert record(session, agreed).payload["previous"] is True


def test_tag_changes_record_whether_the_tag_was_present():
    session = started()
    recorded = [
        record(session, change).payload["previous"]
        for change in (
            TagAdded(tag="vip"),
            TagAdded(tag="vip"),
            TagRemoved(tag="vip"),
            TagRemoved(tag="vip"),
        )
    ]
    assert recorded == [False, True, True, False]


@pytest.mark.parametrize(
    ("event_type", "document"),
    [
        (HumanAssessmentSet, {"assessment": "Yes-C", "reason": "typo"}),
        (HumanAssessmentSet, {"assessment": "Yes-A", "reason": "   "}),
        (HumanAssessmentSet, {"assessment": "Yes-A"}),
        (FlagSet, {"flag": "is_vip", "value": True, "reason": "x"}),
        (SessionAnalyzed, {"auto_assessment": "Maybe", "conversation_quality": 3}),
        (SessionAnalyzed, {"auto_assessment": "No", "conversation_quality": 6}),
        (SentimentScored, {"scope": "session", "label": "positive", "score": 1.5}),
        (SentimentScored, {"scope": "message", "label": "positive", "score": 0.1}),
        (SentimentScored, {"scope": "session", "message_id": "m1", "label": "neutral", "score": 0}),
        (MessageDeliveryUpdated, {"message_id": "m1", "status": "read", "error": "late"}),
        (MessageReacted, {"message_id": "m1", "reaction": "up", "by_role": "customer"}),
        (ContactIdentified, {"contact": {}}),
        (TagAdded, {"tag": " "}),
        (HandoverRequested, {"trigger": "boredom"}),
    ],
)
def test_values_outside_their_set_fail_validation(event_type, document):
    with pytest.raises(ValidationError):
        event_type.model_validate(document)


# --- evolution ------------------------------------------------------------------------------


def test_started_keeps_everything_the_list_shows():
    session = Session(uuid4())
    record(
        session,
        SessionStarted(
            agent_id="a1",
            agent_version="7",
            channel="sms",
            deployment="prod",
            initiator="customer",
            contact=Contact(name="Ann", external_id="crm-1"),
            parameters={"lang": "en"},
            utm={"utm_source": "ads"},
            ip="192.0.2.1",
            location={"country": "PT"},
            integration="twilio",
        ),
    )
    shown = session.state.model_dump(
        mode="json", include={"status", "channel", "deployment", "integration", "utm", "ip"}
    )
    assert shown == {
        "status": "active",
        "channel": "sms",
        "deployment": "prod",
        "integration": "twilio",
        "utm": {"utm_source": "ads"},
        "ip": "192.0.2.1",
    }
    state = session.state
    assert (state.location.country, state.agent_version, state.parameters) == (
        "PT",
        "7",
        {"lang": "en"},
    )
    assert (state.external_id, state.started_at, state.workspace_id) == ("crm-1", T0, "ws-1")


def test_drafts_and_private_notes_never_count_as_messages():
    session = started()
    record(
        session, MessageRecorded(message_id="d", author_role=AuthorRole.copilot_draft), minutes=5
    )
    record(session, MessageRecorded(message_id="n", author_role=AuthorRole.private_note), minutes=6)
    record(session, MessageRecorded(message_id="late", author_role="ai"), minutes=-1)
    assert session.state.message_count == 2
    assert len(session.state.transcript) == 4
    assert session.state.last_message_at == T0


def test_reactions_are_kept_per_message():
    session = started()
    record(session, EXAMPLES[MessageReacted], minutes=1)
    record(session, MessageReacted(message_id="m1", reaction="thumbs_down", by_role="reviewer"))
    reactions = session.state.transcript[0].reactions
    assert [(r.reaction, r.by_role) for r in reactions] == [
        (Reaction.thumbs_up, ReactorRole.customer),
        (Reaction.thumbs_down, ReactorRole.reviewer),
    ]


def test_the_latest_delivery_status_wins_even_when_accepted_late():
    session = started()
    record(session, MessageDeliveryUpdated(message_id="m1", status="read"), minutes=3)
    record(session, MessageDeliveryUpdated(message_id="m1", status="delivered"), minutes=2)
    entry = session.state.transcript[0]
    assert (entry.delivery_status, entry.delivery_updated_at) == (
        DeliveryStatus.read,
        T0 + timedelta(minutes=3),
    )
    record(session, MessageDeliveryUpdated(message_id="m1", status="failed", error="x"), minutes=4)
    assert (entry.delivery_status, entry.delivery_error) == (DeliveryStatus.failed, "x")


def test_sentiment_is_kept_per_message_and_per_session():
    session = started()
    record(session, SentimentScored(scope="message", message_id="m1", label="negative", score=-0.8))
    record(session, SentimentScored(scope=SentimentScope.session, label="neutral", score=0.1))
    assert session.state.transcript[0].sentiment.label is SentimentLabel.negative
    assert (session.state.sentiment.label, session.state.sentiment.score) == ("neutral", 0.1)


def test_goals_journey_and_forms_are_listed_in_stream_order():
    session = started()
    for event_type in (GoalReached, JourneyBlockEntered, FormSubmitted):
        record(session, EXAMPLES[event_type], minutes=2)
    state = session.state
    assert (state.goals[0].goal, state.goals[0].value, state.goals[0].version) == (
        "booking",
        120,
        3,
    )
    assert (state.journey_blocks[0].block_id, state.journey_blocks[0].name) == ("b1", "Greeting")
    assert state.forms[0].fields == {"guests": 4, "vip": True}
    assert state.forms[0].occurred_at == T0 + timedelta(minutes=2)


def test_a_later_result_replaces_the_earlier_one():
    session = started()
    record(session, ResultCollected(key="guests", value=2))
    record(session, ResultCollected(key="guests", value=4))
    assert session.state.results == {"guests": 4}


def test_identified_contact_is_merged_over_the_started_one():
    session = Session(uuid4())
    record(session, SessionStarted(agent_id="a", channel="web", contact=Contact(name="Ann")))
    record(session, ContactIdentified(contact=Contact(email="ann@example.com")))
    assert session.state.contact == Contact(name="Ann", email="ann@example.com")


def test_an_external_id_learnt_later_fills_the_empty_one_as_on_the_session_list():
    session = Session(uuid4())
    record(session, SessionStarted(agent_id="a", channel="web", contact=Contact(name="Ann")))
    record(session, ContactIdentified(contact=Contact(external_id="crm-42")))
    assert session.state.external_id == "crm-42"
    record(session, ContactIdentified(contact=Contact(external_id="crm-43")))
    assert session.state.external_id == "crm-42"  # the list keeps the first one it learnt


def test_an_assignment_records_the_human_agent_it_takes_over_from():
    session = started()
    record(session, HandoverRequested(trigger="customer_request"))
    first = record(session, HumanAgentAssigned(agent_id="op-7"))
    second = record(session, HumanAgentAssigned(agent_id="op-8", reason="op-7 off shift"))
    assert (first.payload["previous"], second.payload["previous"]) == (None, "op-7")
    stale = HumanAgentAssigned(agent_id="op-9", previous="op-7")
    error = refused(session, stale, errors.PreviousValueMismatch)
    assert (error.expected, error.actual) == ("op-7", "op-8")


def test_a_missed_question_marks_its_message():
    session = started()
    record(session, EXAMPLES[QuestionMissed])
    assert session.state.transcript[0].missed is True
    assert session.state.missed_questions[0].question == "Do you deliver?"


def test_handover_assignment_and_resolution_move_the_status():
    session = started()
    record(
        session, HandoverRequested(trigger="customer_request", reason="wants a human"), minutes=1
    )
    assert session.state.status is SessionStatus.handed_over
    assert session.state.handover.requested_at == T0 + timedelta(minutes=1)
    record(session, HumanAgentAssigned(agent_id="op-7", agent_name="Olga"), minutes=2)
    assert (session.state.owner.agent_id, session.state.owner.agent_name) == ("op-7", "Olga")
    record(session, SessionResolved(note="refund issued"), minutes=3)
    assert session.state.status is SessionStatus.resolved
    assert (session.state.resolved_at, session.state.resolution_note) == (
        T0 + timedelta(minutes=3),
        "refund issued",
    )


def test_a_resolved_session_can_still_close():
    session = resolved()
    record(session, SessionClosed(reason="idle"), minutes=9)
    state = session.state
    assert (state.status, state.finished_at, state.close_reason) == (
        SessionStatus.closed,
        T0 + timedelta(minutes=9),
        "idle",
    )


def test_effective_assessment_is_human_if_set_else_auto():
    session = started()
    record(session, EXAMPLES[SessionAnalyzed])
    state = session.state
    assert (state.auto_assessment, state.effective_assessment) == (Assessment.yes_b,) * 2
    assert state.analysis.units == 4
    record(session, HumanAssessmentSet(assessment="No", reason="did not book"))
    assert (state.human_assessment, state.effective_assessment) == (Assessment.no,) * 2
    record(session, HumanAssessmentCleared(reason="mistake"))
    assert (state.human_assessment, state.effective_assessment) == (None, Assessment.yes_b)
    assert session.state.model_dump(mode="json")["effective_assessment"] == "Yes-B"


def test_flags_tags_and_comments():
    session = started()
    record(session, FlagSet(flag=Flag.is_favorite, value=True, reason="great example"))
    for tag in ("zeta", "alpha", "zeta"):
        record(session, TagAdded(tag=tag))
    record(session, EXAMPLES[CommentAdded], by=caller(ActorKind.user))
    state = session.state
    assert state.flags == {Flag.is_favorite: True}
    assert state.tags == ["alpha", "zeta"]
    record(session, TagRemoved(tag="zeta", reason="wrong"))
    assert state.tags == ["alpha"]
    assert (state.comments[0].text, state.comments[0].author.kind) == ("Nice save", "user")


@pytest.mark.parametrize("event_type", by_name(set(EXAMPLES) - {SessionStarted, HandoverRequested}))
def test_every_event_is_applied_and_rebuilt_by_replay(event_type):
    session = assigned()
    record(session, EXAMPLES[event_type])
    assert Session.replay(session.id, session.collect_events()).state == session.state


# --- schema evolution -------------------------------------------------------------------------


def stored_v1_reaction(session: Session) -> dict:
    """A session.message_reacted document as version 1 wrote it, chained after the session."""
    document = {
        "event_id": str(uuid4()),
        "stream_id": str(session.id),
        "stream_type": "session",
        "version": session.version + 1,
        "type": "session.message_reacted",
        "schema_version": 1,
        "workspace_id": "ws-1",
        "occurred_at": "2025-03-01T09:05:00Z",
        "recorded_at": "2025-03-01T09:05:01Z",
        "actor": BOT.model_dump(mode="json"),
        "correlation_id": None,
        "causation_id": None,
        "rules_version": None,
        "prev_hash": session.state.last_hash,
        "hash": "",
        "payload": {"message_id": "m1", "reaction": "down", "by": "Ann"},
    }
    return seal(document)


def test_a_v1_reaction_is_read_as_v2_without_rewriting_the_stored_bytes():
    session = started()
    document = stored_v1_reaction(session)
    stored_hash = document["hash"]
    payload = decode_payload(document["type"], document["schema_version"], document["payload"])
    assert payload == MessageReacted(
        message_id="m1", reaction="thumbs_down", by_role="customer", by="Ann"
    )
    envelope = Envelope.model_validate(document)
    replayed = Session.replay(session.id, [*session.collect_events(), envelope])
    assert replayed.state.transcript[0].reactions[0].reaction is Reaction.thumbs_down
    assert envelope.payload == {"message_id": "m1", "reaction": "down", "by": "Ann"}
    assert compute_hash(envelope.to_document()) == compute_hash(document) == stored_hash


def test_a_v1_payload_is_not_accepted_as_current():
    with pytest.raises(ValidationError):
        MessageReacted.model_validate({"message_id": "m1", "reaction": "up"})


@pytest.mark.parametrize("schema_version", [0, 3])
def test_unknown_schema_versions_are_refused(schema_version):
    with pytest.raises(errors.UnsupportedSchemaVersion):
        decode_payload("session.message_reacted", schema_version, {})
