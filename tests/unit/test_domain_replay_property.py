"""Property: whatever commands arrive, history alone rebuilds the state, and the chain holds.

Random command sequences run against a live Session; refused commands must change nothing.
Then, for every prefix of the stored envelopes (read back from their stored bytes), the
replayed state equals the live state after that many events, and the hash chain verifies.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from uuid import uuid4

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from domain.envelope import (
    GENESIS_HASH,
    Actor,
    ActorKind,
    Envelope,
    compute_hash,
    decode_document,
    encode_document,
)
from domain.errors import DomainError
from domain.events import (
    Assessment,
    AuthorRole,
    Channel,
    CommentAdded,
    Contact,
    ContactIdentified,
    DeliveryStatus,
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
    MissedQuestionSource,
    QuestionMissed,
    Reaction,
    ReactorRole,
    ResultCollected,
    SentimentLabel,
    SentimentScored,
    SessionAnalyzed,
    SessionClosed,
    SessionResolved,
    SessionStarted,
    TagAdded,
    TagRemoved,
)
from domain.session import HANDOVER_PERMISSION, EventContext, Session

T0 = datetime(2025, 3, 1, 9, 0, tzinfo=UTC)

# Small pools, so that later commands often refer to what earlier ones created.
message_ids = st.sampled_from(["m1", "m2", "m3", "m4"])
tags = st.sampled_from(["vip", "refund", "spam"])
words = st.text(alphabet="abc xyz", min_size=1, max_size=12).filter(str.strip)
maybe_words = st.none() | words
assessments = st.sampled_from(Assessment)
field_values = st.none() | st.booleans() | st.integers(-5, 5) | words


def enum(values) -> st.SearchStrategy:
    return st.sampled_from(list(values))


def maybe_previous(model, previous: st.SearchStrategy, **fields) -> st.SearchStrategy:
    """The override with ``previous`` omitted (the aggregate fills it) or stated (checked)."""
    return st.builds(model, **fields) | st.builds(model, **fields, previous=previous)


def weighted(*choices: tuple[int, st.SearchStrategy]) -> st.SearchStrategy:
    """Pick a strategy by weight (``one_of`` flattens nesting, so it cannot weigh groups)."""
    return st.sampled_from([s for weight, s in choices for _ in range(weight)]).flatmap(
        lambda strategy: strategy
    )


messages = st.builds(
    MessageRecorded, message_id=message_ids, author_role=enum(AuthorRole), text=words
)
conversation = st.one_of(
    st.builds(GoalReached, goal=words, value=st.none() | st.floats(0, 500), message_id=message_ids),
    st.builds(JourneyBlockEntered, block_id=words, name=words),
    st.builds(
        FormSubmitted, form_name=words, fields=st.dictionaries(words, field_values, max_size=2)
    ),
    st.builds(ResultCollected, key=st.sampled_from(["date", "guests"]), value=field_values),
    st.builds(ContactIdentified, contact=st.builds(Contact, name=words, email=maybe_words)),
    st.builds(
        QuestionMissed,
        message_id=message_ids,
        question=words,
        source=enum(MissedQuestionSource),
        node=maybe_words,
    ),
)
handover_flow = st.one_of(
    st.builds(HandoverRequested, trigger=enum(HandoverTrigger), reason=maybe_words),
    st.builds(HumanAgentAssigned, agent_id=st.sampled_from(["op-1", "op-2"]), agent_name=words),
    st.builds(SessionResolved, note=maybe_words),
)
endings = st.one_of(
    st.builds(SessionClosed, reason=words),
    st.builds(SessionStarted, agent_id=words, channel=enum(Channel)),  # always refused here
)
review_work = st.one_of(
    st.builds(
        MessageReacted,
        message_id=message_ids,
        reaction=enum(Reaction),
        by_role=enum(ReactorRole),
        by=maybe_words,
    ),
    st.builds(MessageDeliveryUpdated, message_id=message_ids, status=enum(DeliveryStatus)),
    st.builds(
        SentimentScored,
        scope=st.just("session"),
        label=enum(SentimentLabel),
        score=st.floats(-1, 1),
    ),
    st.builds(
        SentimentScored,
        scope=st.just("message"),
        message_id=message_ids,
        label=enum(SentimentLabel),
        score=st.floats(-1, 1),
    ),
    st.builds(
        SessionAnalyzed,
        summary=words,
        is_lead=st.booleans(),
        units=st.none() | st.integers(0, 20),
        refused=st.booleans(),
        auto_assessment=assessments,
        conversation_quality=st.integers(1, 5),
    ),
    maybe_previous(
        HumanAssessmentSet, st.none() | assessments, assessment=assessments, reason=words
    ),
    maybe_previous(HumanAssessmentCleared, st.none() | assessments, reason=words),
    maybe_previous(
        FlagSet, st.none() | st.booleans(), flag=enum(Flag), value=st.booleans(), reason=words
    ),
    maybe_previous(TagAdded, st.booleans(), tag=tags, reason=maybe_words),
    maybe_previous(TagRemoved, st.booleans(), tag=tags),
    st.builds(CommentAdded, comment_id=words, text=words, reason=maybe_words),
)
callers = st.builds(
    lambda kind, permissions: EventContext(
        workspace_id="ws-1",
        actor=Actor(kind=kind, id=f"{kind.value}-1"),
        recorded_at=T0,
        permissions=permissions,
    ),
    enum(ActorKind),
    st.frozensets(st.just(HANDOVER_PERMISSION)),
)
# Customer-visible times are not monotonic: webhooks and late imports arrive out of order.
times = st.integers(0, 600).map(lambda minutes: T0 + timedelta(minutes=minutes))
# Closing early would leave little to test, so endings are rare.
payloads = weighted(
    (8, messages), (8, conversation), (8, handover_flow), (12, review_work), (1, endings)
)
commands = st.lists(st.tuples(payloads, callers, times), min_size=10, max_size=50)
start = SessionStarted(agent_id="agent-1", channel=Channel.web)


def run(session: Session, batch) -> list:
    """Record every command, skipping refusals; the live state after each accepted event."""
    states = [session.state.model_copy(deep=True)]
    for payload, caller, occurred_at in batch:
        before = session.state.model_copy(deep=True)
        try:
            session.record(payload, caller, occurred_at=occurred_at)
        except DomainError:
            assert session.state == before, f"refused {payload.event_type} changed the state"
            continue
        states.append(session.state.model_copy(deep=True))
    return states


def as_stored(envelope: Envelope) -> Envelope:
    return Envelope.model_validate(decode_document(encode_document(envelope.to_document())))


def assert_chain(history: list[Envelope]) -> None:
    previous = GENESIS_HASH
    for version, envelope in enumerate(history, start=1):
        assert envelope.version == version
        assert envelope.prev_hash == previous
        assert compute_hash(envelope.to_document()) == envelope.hash
        previous = envelope.hash


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(batch=commands, first_caller=callers)
def test_replaying_every_prefix_rebuilds_the_live_state(batch, first_caller):
    session = Session(uuid4())
    live = run(session, [(start, first_caller, T0), *batch])
    history = [as_stored(envelope) for envelope in session.collect_events()]
    assert len(history) == len(live) - 1
    assert_chain(history)
    for k, state in enumerate(live):
        assert Session.replay(session.id, history[:k]).state == state
