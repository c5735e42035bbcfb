"""The session list: one row per session, with every column the Sessions screens show.

``fold(row, event, rules) -> row`` is pure. Each event first changes the row's facts
(``_evolve``), then every figure derived from those facts (who is responsible, duration and
length class, the local day, the lead/ASR figures) is recomputed from the row as a whole
(``_derive``), so an override that arrives later changes the figures exactly as if it had been
there from the start. ``SessionListProjection`` loads the rows a batch touches, folds the
batch into them, writes them back in one ``executemany`` upsert, then refreshes the read
models derived from these rows (``asr_metrics``) in the same transaction.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, fields, replace
from datetime import date, datetime
from functools import singledispatch
from typing import Any, Protocol, TypeVar
from uuid import UUID

from psycopg import Cursor, sql
from psycopg.types.json import Jsonb

from domain.asr import SessionFacts, effective_assessment, session_asr
from domain.envelope import Envelope
from domain.events import (
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
    MessageRecorded,
    QuestionMissed,
    SentimentScored,
    SessionAnalyzed,
    SessionClosed,
    SessionResolved,
    SessionStarted,
    TagAdded,
    TagRemoved,
    decode_payload,
)
from domain.rules import DEFAULT_RULES, RuleSet, WorkspaceRules, rules_for
from domain.session_state import SessionStatus
from domain.values import AuthorRole, Contact, Flag, SentimentLabel, SentimentScope
from projections.engine import schema_sql

P = TypeVar("P", bound=EventPayload)
SESSION_STREAM = SessionStarted.stream_type
# Which message counter a customer-visible message adds to; drafts and notes count nowhere.
_COUNTER_OF_ROLE = {
    AuthorRole.customer: "customer_message_count",
    AuthorRole.ai: "ai_message_count",
    AuthorRole.human_agent: "human_message_count",
}


@dataclass(frozen=True)
class SessionRow:
    session_id: UUID
    workspace_id: str
    status: str = SessionStatus.active.value
    # as started
    agent_id: str | None = None
    agent_version: str | None = None
    channel: str | None = None
    deployment: str | None = None
    integration: str | None = None
    contact_name: str | None = None
    contact_email: str | None = None
    contact_phone: str | None = None
    external_id: str | None = None
    ip: str | None = None
    country: str | None = None
    region: str | None = None
    city: str | None = None
    utm: dict[str, str] | None = None
    # who is handling it
    responsible: str = "ai"
    handover_requested: bool = False
    human_agent_id: str | None = None
    human_agent_name: str | None = None
    # time
    started_at: datetime | None = None
    last_message_at: datetime | None = None
    finished_at: datetime | None = None
    duration_seconds: int = 0
    session_length: str | None = None
    started_day: date | None = None
    # the conversation
    message_count: int = 0
    customer_message_count: int = 0
    ai_message_count: int = 0
    human_message_count: int = 0
    has_attachments: bool = False
    has_customer_responses: bool = False
    sentiment: str | None = None
    negative_sentiment: bool = False
    negative_message_ids: tuple[str, ...] = ()
    goals: tuple[str, ...] = ()
    journey_blocks: tuple[str, ...] = ()
    forms: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()
    missed_question_count: int = 0
    longest_missed_run: int = 0
    # customer messages in order, and which of them (by ordinal) were missed: for the runs
    customer_message_ids: tuple[str, ...] = ()
    missed_ordinals: tuple[int, ...] = ()
    # analysis and review
    summary: str | None = None
    session_type: str | None = None
    units: float | None = None
    actual_result: str | None = None
    expected_result: str | None = None
    conversation_quality: int | None = None
    is_lead: bool = False
    refused: bool = False
    unavailable: bool = False
    opportunity_override: bool | None = None
    is_opportunity: bool = False
    is_test: bool = False
    is_todo: bool = False
    is_archived: bool = False
    is_favorite: bool = False
    auto_assessment: str | None = None
    human_assessment: str | None = None
    effective_assessment: str | None = None
    corrected_by_reviewer: bool = False
    # what the rules make of it
    lead_value: float = 0.0
    conversion_ratio: float = 0.0
    in_working_hours: bool = False
    recognition: float = 0.0
    success_factor: float | None = None
    asr: float = 0.0
    lead_id: UUID | None = None  # filled by the leads read model's owner; NULL until then
    rules_version: int = 0
    version: int = 0
    position: int = 0


COLUMNS = tuple(f.name for f in fields(SessionRow))
_ARRAY_COLUMNS = frozenset(f.name for f in fields(SessionRow) if f.type.startswith("tuple"))


def fold(row: SessionRow | None, event: Envelope, rules: RuleSet = DEFAULT_RULES) -> SessionRow:
    payload = decode_payload(event.type, event.schema_version, event.payload)
    if row is None:
        row = SessionRow(session_id=event.stream_id, workspace_id=event.workspace_id)
    row = _evolve(payload, row, event)
    row = replace(row, version=event.version, position=event.position or row.position)
    return _derive(row, rules)


def fold_all(
    row: SessionRow | None, events: Sequence[Envelope], rules: RuleSet = DEFAULT_RULES
) -> SessionRow | None:
    for event in events:
        row = fold(row, event, rules)
    return row


# --- facts: what each event says ----------------------------------------------------------------


@singledispatch
def _evolve(_payload: EventPayload, row: SessionRow, _event: Envelope) -> SessionRow:
    return row  # events that do not change a list column


@_evolve.register
def _(payload: SessionStarted, row: SessionRow, event: Envelope) -> SessionRow:
    location = payload.location
    return replace(
        _with_contact(row, payload.contact),
        agent_id=payload.agent_id,
        agent_version=payload.agent_version,
        channel=payload.channel.value,
        deployment=payload.deployment,
        integration=payload.integration,
        external_id=payload.external_id or payload.contact.external_id,
        ip=payload.ip,
        country=location.country if location else None,
        region=location.region if location else None,
        city=location.city if location else None,
        utm=dict(payload.utm),
        started_at=event.occurred_at,
    )


def _with_contact(row: SessionRow, contact: Contact) -> SessionRow:
    """The row with every contact field ``contact`` knows taking precedence."""
    return replace(
        row,
        contact_name=contact.name or row.contact_name,
        contact_email=contact.email or row.contact_email,
        contact_phone=contact.phone or row.contact_phone,
        external_id=row.external_id or contact.external_id,
    )


@_evolve.register
def _(payload: ContactIdentified, row: SessionRow, _event: Envelope) -> SessionRow:
    return _with_contact(row, payload.contact)


@_evolve.register
def _(payload: MessageRecorded, row: SessionRow, event: Envelope) -> SessionRow:
    counter = _COUNTER_OF_ROLE.get(payload.author_role)
    if counter is None:
        return row
    last = row.last_message_at
    row = replace(
        row,
        message_count=row.message_count + 1,
        last_message_at=event.occurred_at if last is None or event.occurred_at > last else last,
        has_attachments=row.has_attachments or bool(payload.attachments),
        **{counter: getattr(row, counter) + 1},
    )
    if payload.author_role is AuthorRole.customer:
        row = replace(row, customer_message_ids=(*row.customer_message_ids, payload.message_id))
    return row


@_evolve.register
def _(payload: QuestionMissed, row: SessionRow, _event: Envelope) -> SessionRow:
    row = replace(row, missed_question_count=row.missed_question_count + 1)
    if payload.message_id not in row.customer_message_ids:
        return row  # a question missed on a non-customer message counts, but not in a run
    ordinal = row.customer_message_ids.index(payload.message_id)
    return replace(row, missed_ordinals=tuple(sorted({*row.missed_ordinals, ordinal})))


@_evolve.register
def _(payload: SentimentScored, row: SessionRow, _event: Envelope) -> SessionRow:
    if payload.scope is SentimentScope.session:
        return replace(row, sentiment=payload.label.value)
    negative = set(row.negative_message_ids)
    # A message's later score replaces its earlier one, so it may also clear the flag.
    if payload.label is SentimentLabel.negative:
        negative.add(payload.message_id)
    else:
        negative.discard(payload.message_id)
    return replace(row, negative_message_ids=tuple(sorted(negative)))


def _adds_distinct(payload_type: type[P], column: str, value_of: Callable[[P], str]) -> None:
    """Register the evolution that adds the payload's value to a distinct-values column."""

    def add(payload: P, row: SessionRow, _event: Envelope) -> SessionRow:
        value, present = value_of(payload), getattr(row, column)
        return row if value in present else replace(row, **{column: (*present, value)})

    _evolve.register(payload_type)(add)


_adds_distinct(GoalReached, "goals", lambda payload: payload.goal)
_adds_distinct(JourneyBlockEntered, "journey_blocks", lambda payload: payload.name)
_adds_distinct(FormSubmitted, "forms", lambda payload: payload.form_name)


@_evolve.register
def _(payload: TagAdded, row: SessionRow, _event: Envelope) -> SessionRow:
    return replace(row, tags=tuple(sorted({*row.tags, payload.tag})))


@_evolve.register
def _(payload: TagRemoved, row: SessionRow, _event: Envelope) -> SessionRow:
    return replace(row, tags=tuple(tag for tag in row.tags if tag != payload.tag))


@_evolve.register
def _(_payload: HandoverRequested, row: SessionRow, _event: Envelope) -> SessionRow:
    return replace(row, handover_requested=True, status=SessionStatus.handed_over.value)


@_evolve.register
def _(payload: HumanAgentAssigned, row: SessionRow, _event: Envelope) -> SessionRow:
    return replace(
        row,
        human_agent_id=payload.agent_id,
        human_agent_name=payload.agent_name or None,
        status=SessionStatus.handed_over.value,
    )


@_evolve.register
def _(_payload: SessionResolved, row: SessionRow, _event: Envelope) -> SessionRow:
    return replace(row, status=SessionStatus.resolved.value)


@_evolve.register
def _(_payload: SessionClosed, row: SessionRow, event: Envelope) -> SessionRow:
    return replace(row, status=SessionStatus.closed.value, finished_at=event.occurred_at)


@_evolve.register
def _(payload: SessionAnalyzed, row: SessionRow, _event: Envelope) -> SessionRow:
    return replace(
        row,
        summary=payload.summary,
        session_type=payload.session_type,
        units=payload.units,
        actual_result=payload.actual_result,
        expected_result=payload.expected_result,
        conversation_quality=payload.conversation_quality,
        is_lead=payload.is_lead,
        refused=payload.refused,
        unavailable=payload.unavailable,
        auto_assessment=payload.auto_assessment.value,
    )


@_evolve.register
def _(payload: HumanAssessmentSet, row: SessionRow, _event: Envelope) -> SessionRow:
    return replace(row, human_assessment=payload.assessment.value)


@_evolve.register
def _(_payload: HumanAssessmentCleared, row: SessionRow, _event: Envelope) -> SessionRow:
    return replace(row, human_assessment=None)


# The row column each flag sets; is_opportunity is an override of a derived figure.
_FLAG_COLUMN = {flag: flag.value for flag in Flag} | {Flag.is_opportunity: "opportunity_override"}


@_evolve.register
def _(payload: FlagSet, row: SessionRow, _event: Envelope) -> SessionRow:
    return replace(row, **{_FLAG_COLUMN[payload.flag]: payload.value})


# --- figures: what the rules make of the facts --------------------------------------------------


def _derive(row: SessionRow, rules: RuleSet) -> SessionRow:
    if row.started_at is None:
        return replace(row, rules_version=rules.version)
    agent_rules = rules_for(rules, row.agent_id)
    end = row.finished_at or row.last_message_at or row.started_at
    duration = max(0, int((end - row.started_at).total_seconds()))
    figures = session_asr(_facts(row), agent_rules)
    auto, human = row.auto_assessment, row.human_assessment
    return replace(
        row,
        responsible=_responsible(row),
        duration_seconds=duration,
        session_length=agent_rules.session_length.classify(duration).value,
        started_day=row.started_at.astimezone(agent_rules.zone).date(),
        has_customer_responses=row.customer_message_count > 0,
        negative_sentiment=row.sentiment == SentimentLabel.negative
        or bool(row.negative_message_ids),
        longest_missed_run=longest_run(row.missed_ordinals),
        effective_assessment=effective_assessment(auto, human),  # type: ignore[arg-type]
        corrected_by_reviewer=human is not None and human != auto,
        lead_value=figures.lead_value,
        is_opportunity=figures.is_opportunity,
        conversion_ratio=figures.conversion_ratio,
        in_working_hours=figures.in_working_hours,
        recognition=figures.recognition,
        success_factor=figures.success_factor,
        asr=figures.asr,
        rules_version=rules.version,
    )


def _facts(row: SessionRow) -> SessionFacts:
    assert row.started_at is not None
    return SessionFacts(
        started_at=row.started_at,
        is_lead=row.is_lead,
        units=row.units,
        refused=row.refused,
        unavailable=row.unavailable,
        has_phone_or_email=bool(row.contact_email or row.contact_phone),
        opportunity_override=row.opportunity_override,
        auto_assessment=row.auto_assessment,  # type: ignore[arg-type]
        human_assessment=row.human_assessment,  # type: ignore[arg-type]
        is_test=row.is_test,
    )


def _responsible(row: SessionRow) -> str:
    if row.human_agent_id is not None:
        return "human"
    return "unassigned" if row.handover_requested else "ai"


def longest_run(ordinals: Sequence[int]) -> int:
    """Length of the longest run of consecutive numbers in a sorted, distinct sequence."""
    longest = current = 0
    previous = None
    for ordinal in ordinals:
        current = current + 1 if previous is not None and ordinal == previous + 1 else 1
        longest = max(longest, current)
        previous = ordinal
    return longest


# --- storage ------------------------------------------------------------------------------------


class DerivedFromSessions(Protocol):
    """A read model kept by aggregating session rows, refreshed after they changed."""

    def schema(self) -> list[str]: ...

    def refresh(self, cur: Cursor, rows: Sequence[SessionRow]) -> None: ...


class SessionListProjection:
    name = "session_list"

    def __init__(
        self,
        rules: RuleSet | WorkspaceRules = DEFAULT_RULES,
        *,
        table: str = "session_list",
        derived: Sequence[DerivedFromSessions] = (),
        name: str = "session_list",
    ) -> None:
        # ``name`` keys the exactly-once bookkeeping: a rebuilt generation has its own.
        self.name = name
        self.rules = WorkspaceRules.of_any(rules)
        self.table = table
        self.derived = tuple(derived)

    def schema(self) -> list[str]:
        # The table name is ours (a rebuild's table beside the live one), never a caller's value.
        own = schema_sql("session_list.sql").replace("session_list", self.table)
        return [own, *(script for model in self.derived for script in model.schema())]

    def apply(self, cur: Cursor, streams: dict[UUID, list[Envelope]]) -> None:
        # Other streams (rules, missed-question decisions) have no row on the list.
        sessions = {
            stream_id: events
            for stream_id, events in streams.items()
            if events[0].stream_type == SESSION_STREAM
        }
        rows = self._load(cur, list(sessions))
        folded = [
            fold_all(rows.get(stream_id), events, self.rules.of(events[0].workspace_id))
            for stream_id, events in sessions.items()
        ]
        changed = [row for row in folded if row is not None]
        self._store(cur, changed)
        for model in self.derived:
            model.refresh(cur, changed)

    def _load(self, cur: Cursor, ids: list[UUID]) -> dict[UUID, SessionRow]:
        query = sql.SQL("SELECT {cols} FROM {table} WHERE session_id = ANY(%s)").format(
            cols=sql.SQL(", ").join(map(sql.Identifier, COLUMNS)), table=sql.Identifier(self.table)
        )
        cur.execute(query, (ids,))
        return {record[0]: _from_record(record) for record in cur.fetchall()}

    def _store(self, cur: Cursor, rows: list[SessionRow]) -> None:
        updates = sql.SQL(", ").join(
            sql.SQL("{c} = EXCLUDED.{c}").format(c=sql.Identifier(c)) for c in COLUMNS[1:]
        )
        query = sql.SQL(
            "INSERT INTO {table} ({cols}) VALUES ({vals})"
            " ON CONFLICT (session_id) DO UPDATE SET {u}"
        ).format(
            table=sql.Identifier(self.table),
            cols=sql.SQL(", ").join(map(sql.Identifier, COLUMNS)),
            vals=sql.SQL(", ").join(sql.Placeholder() * len(COLUMNS)),
            u=updates,
        )
        cur.executemany(query, [_to_record(row) for row in rows])


def _from_record(record: tuple[Any, ...]) -> SessionRow:
    values = {
        name: tuple(value) if name in _ARRAY_COLUMNS else value
        for name, value in zip(COLUMNS, record, strict=True)
    }
    return SessionRow(**values)


def _to_record(row: SessionRow) -> tuple[Any, ...]:
    return tuple(_to_column(name, getattr(row, name)) for name in COLUMNS)


def _to_column(name: str, value: Any) -> Any:
    if name in _ARRAY_COLUMNS:
        return list(value)
    return Jsonb(value) if name == "utm" and value is not None else value
