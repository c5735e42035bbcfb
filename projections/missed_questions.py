"""missed_questions: what the agent could not answer, grouped per workspace and agent by its
wording as the workspace's rules normalise it (``RuleSet.missed_questions``; by default
whitespace collapsed, case kept), with every occurrence, the daily share of customer messages
missed, and per session the misses and the longest run of consecutive missed messages.

``fold`` is pure (session state, event, rules -> state, changes); ``summarise`` adds a batch's
changes up; ``MissedQuestionsProjection`` loads the states a batch touches and writes the
summary with one set-based statement per table.

Statuses across regroupings: a reviewer's status is an event on the stream of the group id
they saw. Under the built-in normalisation a group's id is its *wording id*
(``missed_question_group_id``), so every status recorded before any rules change is on a
wording id. Rules that normalise further (case folding) merge wordings into one group with an
id of its own; ``missed_question_wordings`` keeps, per group, the wording ids of its members
that differ from the group's id, and a group's status is the newest (by log position) of the
statuses recorded on its own id and on those wording ids (``api.read_models``). Status rows
stay keyed by their stream, as recorded, so that a rebuild under other rules needs nothing but
the events.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from itertools import islice
from uuid import UUID

from psycopg import Cursor

from domain.envelope import Envelope
from domain.events import (
    AuthorRole,
    MessageRecorded,
    MissedQuestionStatusChanged,
    QuestionMissed,
    SessionStarted,
    decode_payload,
)
from domain.identity import missed_question_group_id, normalised_question_group_id
from domain.rules import DEFAULT_RULES, RuleSet
from projections.batch import execute_json, json_rows, uuid_array
from projections.recent_rows import RecentRows
from projections.tables import TableSet

MISSED_QUESTION_STREAM = "missed_question"
TABLES = (
    "missed_question_groups",
    "missed_question_occurrences",
    "missed_question_status",
    "missed_question_daily",
    "missed_question_sessions",
    "missed_question_wordings",
)
FOLDED_TYPES = frozenset(
    {SessionStarted.event_type, MessageRecorded.event_type, QuestionMissed.event_type}
)


@dataclass(frozen=True)
class SessionMisses:
    """What one session needs remembered: its agent, customer messages in order, misses."""

    session_id: UUID
    workspace_id: str
    agent_id: str
    # message id -> (UTC) day, in the order the customer wrote them
    customer_messages: dict[str, date] = field(default_factory=dict)
    missed_messages: frozenset[str] = frozenset()
    group_ids: frozenset[UUID] = frozenset()
    missed_count: int = 0

    @property
    def longest_run(self) -> int:
        if not self.missed_messages:  # most sessions: no walk over every message per batch
            return 0
        longest = run = 0
        for message_id in self.customer_messages:
            run = run + 1 if message_id in self.missed_messages else 0
            longest = max(longest, run)
        return longest


@dataclass(frozen=True)
class Occurrence:
    group_id: UUID  # under the rules the read model is built under
    wording_id: UUID  # the group id under the built-in normalisation: see the module doc
    workspace_id: str
    agent_id: str
    question: str  # normalised by the rules: the group's wording
    text: str  # as the agent reported it
    session_id: UUID
    message_id: str
    occurred_at: datetime
    version: int
    position: int | None
    first_in_session: bool  # the session's first miss of this group: one more distinct session
    rules_version: int


@dataclass(frozen=True)
class DayCount:
    workspace_id: str
    agent_id: str
    day: date
    customer_messages: int = 0
    missed: int = 0


Change = Occurrence | DayCount


def fold(
    state: SessionMisses | None, event: Envelope, rules: RuleSet = DEFAULT_RULES
) -> tuple[SessionMisses | None, list[Change]]:
    """The session's state after ``event``, and the changes the event makes to the read model
    under ``rules`` (the session's workspace's)."""
    if event.type not in FOLDED_TYPES:
        return state, []
    payload = decode_payload(event.type, event.schema_version, event.payload)
    if isinstance(payload, SessionStarted):
        return SessionMisses(event.stream_id, event.workspace_id, payload.agent_id), []
    if state is None:  # the engine applies streams from version 1; nothing to attach to
        return state, []
    if isinstance(payload, MessageRecorded):
        return _message(state, payload, event)
    return _missed(state, payload, event, rules)


def _message(
    state: SessionMisses, payload: MessageRecorded, event: Envelope
) -> tuple[SessionMisses, list[Change]]:
    if payload.author_role is not AuthorRole.customer:
        return state, []
    day = event.occurred_at.date()
    counted = DayCount(state.workspace_id, state.agent_id, day, customer_messages=1)
    if payload.message_id in state.customer_messages:
        # A message's first recording keeps its day and place (the session refuses a second
        # one), so the stored lists only ever grow at their end: see ``_grown_values``.
        return state, [counted]
    messages = {**state.customer_messages, payload.message_id: day}
    return replace(state, customer_messages=messages), [counted]


def _missed(
    state: SessionMisses, payload: QuestionMissed, event: Envelope, rules: RuleSet
) -> tuple[SessionMisses, list[Change]]:
    wording = rules.missed_questions.normalise(payload.question)
    group_id = normalised_question_group_id(state.workspace_id, state.agent_id, wording)
    occurrence = Occurrence(
        group_id=group_id,
        wording_id=missed_question_group_id(state.workspace_id, state.agent_id, payload.question),
        workspace_id=state.workspace_id,
        agent_id=state.agent_id,
        question=wording,
        text=payload.question,
        session_id=state.session_id,
        message_id=payload.message_id,
        occurred_at=event.occurred_at,
        version=event.version,
        position=event.position,
        first_in_session=group_id not in state.group_ids,
        rules_version=rules.version,
    )
    changes: list[Change] = [occurrence]
    day = state.customer_messages.get(payload.message_id)
    # The share counts missed customer messages: a second miss of one message is not another.
    if day is not None and payload.message_id not in state.missed_messages:
        changes.append(DayCount(state.workspace_id, state.agent_id, day, missed=1))
    new_state = replace(
        state,
        missed_messages=state.missed_messages | {payload.message_id},
        group_ids=state.group_ids | {group_id},
        missed_count=state.missed_count + 1,
    )
    return new_state, changes


@dataclass
class GroupDelta:
    workspace_id: str
    agent_id: str
    question: str
    occurrences: int
    sessions: int
    first_seen: datetime
    last_seen: datetime
    rules_version: int

    def add(self, occurrence: Occurrence) -> None:
        self.occurrences += 1
        self.sessions += occurrence.first_in_session
        self.first_seen = min(self.first_seen, occurrence.occurred_at)
        self.last_seen = max(self.last_seen, occurrence.occurred_at)


@dataclass
class Summary:
    """A batch's changes added up: what each table gains."""

    occurrences: list[Occurrence] = field(default_factory=list)
    groups: dict[UUID, GroupDelta] = field(default_factory=dict)
    days: dict[tuple[str, str, date], list[int]] = field(
        default_factory=lambda: defaultdict(lambda: [0, 0])
    )
    # (group id, wording id, workspace) of members whose wording id is not the group's
    wordings: set[tuple[UUID, UUID, str]] = field(default_factory=set)


def summarise(changes: list[Change]) -> Summary:
    summary = Summary()
    for change in changes:
        if isinstance(change, DayCount):
            counts = summary.days[(change.workspace_id, change.agent_id, change.day)]
            counts[0] += change.customer_messages
            counts[1] += change.missed
        else:
            summary.occurrences.append(change)
            _add_to_group(summary.groups, change)
            if change.wording_id != change.group_id:
                summary.wordings.add((change.group_id, change.wording_id, change.workspace_id))
    return summary


def _add_to_group(groups: dict[UUID, GroupDelta], occurrence: Occurrence) -> None:
    delta = groups.get(occurrence.group_id)
    if delta is None:
        at = occurrence.occurred_at
        delta = GroupDelta(
            occurrence.workspace_id,
            occurrence.agent_id,
            occurrence.question,
            0,
            0,
            at,
            at,
            occurrence.rules_version,
        )
        groups[occurrence.group_id] = delta
    delta.add(occurrence)


@dataclass(frozen=True)
class StatusRow:
    """A missed_question stream's newest status; its fields named as STORE_STATUS's columns."""

    group_id: UUID
    workspace_id: str
    status: str
    reason: str | None
    changed_at: datetime
    version: int
    position: int | None  # orders statuses of different streams (a group and its wordings)


def status_row(event: Envelope) -> StatusRow:
    payload = decode_payload(event.type, event.schema_version, event.payload)
    assert isinstance(payload, MissedQuestionStatusChanged)
    return StatusRow(
        event.stream_id,
        event.workspace_id,
        payload.status.value,
        payload.reason,
        event.occurred_at,
        event.version,
        event.position,
    )


# --- SQL ------------------------------------------------------------------------------------

LOAD_SESSIONS = (
    "SELECT session_id, workspace_id, agent_id, customer_message_ids, customer_message_days,"
    " missed_message_ids, group_ids, missed_count"
    " FROM {missed_question_sessions} WHERE session_id = ANY(%s::uuid[])"
)
# Each statement writes a whole batch: the rows as one JSON array (``projections.batch``).
STORE_SESSIONS = json_rows(
    "missed_question_sessions",
    "session_id, workspace_id, agent_id, missed_count, longest_run, customer_message_ids,"
    " customer_message_days, missed_message_ids, group_ids",
) + (
    " ON CONFLICT (session_id) DO UPDATE SET"
    " missed_count = EXCLUDED.missed_count, longest_run = EXCLUDED.longest_run,"
    " customer_message_ids = EXCLUDED.customer_message_ids,"
    " customer_message_days = EXCLUDED.customer_message_days,"
    " missed_message_ids = EXCLUDED.missed_message_ids, group_ids = EXCLUDED.group_ids"
)
GROW_SESSIONS = (
    "UPDATE {missed_question_sessions} AS s SET"
    " missed_count = c.missed_count, longest_run = c.longest_run,"
    " customer_message_ids = s.customer_message_ids || c.new_message_ids,"
    " customer_message_days = s.customer_message_days || c.new_message_days,"
    " missed_message_ids = c.missed_message_ids, group_ids = c.group_ids"
    " FROM json_to_recordset(%s::json) AS c(session_id uuid, missed_count integer,"
    " longest_run integer, new_message_ids text[], new_message_days date[],"
    " missed_message_ids text[], group_ids uuid[])"
    " WHERE s.session_id = c.session_id"
)
INSERT_OCCURRENCES = (
    json_rows(
        "missed_question_occurrences",
        "session_id, version, group_id, workspace_id, message_id, occurred_at, question, position",
    )
    + " ON CONFLICT (session_id, version) DO NOTHING"
)
# The engine applies each event once, so the counters can simply be added to.
ADD_TO_GROUPS = json_rows(
    "missed_question_groups",
    "group_id, workspace_id, agent_id, question, occurrences, sessions, first_seen, last_seen,"
    " rules_version",
    alias="g",
) + (
    " ON CONFLICT (group_id) DO UPDATE SET occurrences = g.occurrences + EXCLUDED.occurrences,"
    " sessions = g.sessions + EXCLUDED.sessions,"
    " first_seen = LEAST(g.first_seen, EXCLUDED.first_seen),"
    " last_seen = GREATEST(g.last_seen, EXCLUDED.last_seen)"
)
ADD_TO_DAYS = json_rows(
    "missed_question_daily",
    "workspace_id, agent_id, day, customer_messages, missed",
    alias="d",
) + (
    " ON CONFLICT (workspace_id, agent_id, day) DO UPDATE"
    " SET customer_messages = d.customer_messages + EXCLUDED.customer_messages,"
    " missed = d.missed + EXCLUDED.missed"
)
STORE_STATUS = json_rows(
    "missed_question_status",
    "group_id, workspace_id, status, reason, changed_at, version, position",
    alias="s",
) + (
    " ON CONFLICT (group_id) DO UPDATE SET status = EXCLUDED.status, reason = EXCLUDED.reason,"
    " changed_at = EXCLUDED.changed_at, version = EXCLUDED.version,"
    " position = EXCLUDED.position WHERE s.version < EXCLUDED.version"
)
ADD_WORDINGS = (
    json_rows("missed_question_wordings", "group_id, wording_id, workspace_id")
    + " ON CONFLICT DO NOTHING"
)


class MissedQuestionsProjection(TableSet):
    name = "missed_questions"
    TABLES = TABLES
    SCHEMA = "missed_questions.sql"
    STATEMENTS = {
        "load_sessions": LOAD_SESSIONS,
        "store_sessions": STORE_SESSIONS,
        "grow_sessions": GROW_SESSIONS,
        "insert_occurrences": INSERT_OCCURRENCES,
        "add_to_groups": ADD_TO_GROUPS,
        "add_to_days": ADD_TO_DAYS,
        "store_status": STORE_STATUS,
        "add_wordings": ADD_WORDINGS,
    }

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._recent: RecentRows[SessionMisses] = RecentRows()

    def apply(self, cur: Cursor, streams: dict[UUID, list[Envelope]]) -> None:
        statuses = [
            status_row(events[-1])  # only the stream's newest status matters
            for events in streams.values()
            if events[0].stream_type == MISSED_QUESTION_STREAM
        ]
        sessions = {
            stream_id: folded
            for stream_id, events in streams.items()
            if (folded := [e for e in events if e.type in FOLDED_TYPES])
        }
        before = self._states_before(cur, streams, sessions)
        states = dict(before)
        changes: list[Change] = []
        for stream_id, events in sessions.items():
            state = states.get(stream_id)
            rules = self.rules.of(events[0].workspace_id)
            for event in events:
                state, made = fold(state, event, rules)
                changes.extend(made)
            if state is not None:
                states[stream_id] = state
        # A fold that changes nothing hands the same state back (an agent's message): its
        # row is as stored already.
        changed = [
            (state, _stored_row(before, sessions, stream_id))
            for stream_id, state in states.items()
            if state is not before.get(stream_id)
        ]
        self._store(cur, changed, summarise(changes), statuses)
        for stream_id, state in states.items():
            self._recent.remember(stream_id, streams[stream_id][-1].version, state)

    def _states_before(
        self,
        cur: Cursor,
        streams: dict[UUID, list[Envelope]],
        sessions: dict[UUID, list[Envelope]],
    ) -> dict[UUID, SessionMisses]:
        """Each session's state as the batch finds it: kept from this process's last batch
        when at the version the engine has applied (see ``RecentRows``), else read; a
        session whose batch folds nothing is only carried forward when kept."""
        states, unknown = self._recent.split(streams, readable=sessions)
        states.update(self._load(cur, unknown))
        return states

    def _load(self, cur: Cursor, session_ids: list[UUID]) -> dict[UUID, SessionMisses]:
        if not session_ids:
            return {}
        cur.execute(self.sql.load_sessions, (uuid_array(session_ids),))
        return {
            row[0]: SessionMisses(
                session_id=row[0],
                workspace_id=row[1],
                agent_id=row[2],
                customer_messages=dict(zip(row[3], row[4], strict=True)),
                missed_messages=frozenset(row[5]),
                group_ids=frozenset(row[6]),
                missed_count=row[7],
            )
            for row in cur.fetchall()
        }

    def _store(
        self,
        cur: Cursor,
        sessions: list[tuple[SessionMisses, SessionMisses | None]],
        summary: Summary,
        statuses: list[StatusRow],
    ) -> None:
        """A session stored before is updated by what it gained (``_grown_values``): its
        message lists are appended to, not written again whole each batch (a long session's
        hundreds of ids, converted and rewritten by PostgreSQL for every message)."""
        execute_json(
            cur,
            self.sql.store_sessions,
            [_session_values(state) for state, stored in sessions if stored is None],
        )
        execute_json(
            cur,
            self.sql.grow_sessions,
            [_grown_values(state, stored) for state, stored in sessions if stored is not None],
        )
        execute_json(
            cur,
            self.sql.insert_occurrences,
            [_occurrence_values(o) for o in summary.occurrences],
        )
        execute_json(
            cur,
            self.sql.add_to_groups,
            [{"group_id": group_id, **vars(d)} for group_id, d in summary.groups.items()],
        )
        execute_json(
            cur,
            self.sql.add_to_days,
            [_day_values(key, counts) for key, counts in summary.days.items()],
        )
        execute_json(cur, self.sql.store_status, statuses)
        execute_json(
            cur,
            self.sql.add_wordings,
            [
                {"group_id": group, "wording_id": wording, "workspace_id": workspace}
                for group, wording, workspace in sorted(summary.wordings)
            ],
        )


def _stored_row(
    before: dict[UUID, SessionMisses], folded: dict[UUID, list[Envelope]], stream_id: UUID
) -> SessionMisses | None:
    """The session's row as stored, which the batch's state extends; None when there is none,
    or when the batch starts the session over (its first event: then it is written whole)."""
    events = folded.get(stream_id)
    if events and events[0].type == SessionStarted.event_type:
        return None
    return before.get(stream_id)


def _grown_values(state: SessionMisses, stored: SessionMisses) -> dict:
    """What ``GROW_SESSIONS`` sets: the customer messages after those stored (the state only
    ever adds them at the end: ``_message``), and the rest whole."""
    gained = len(state.customer_messages) - len(stored.customer_messages)
    new = list(islice(reversed(state.customer_messages.items()), gained))[::-1]
    return {
        "session_id": state.session_id,
        "missed_count": state.missed_count,
        "longest_run": state.longest_run,
        "new_message_ids": [message_id for message_id, _ in new],
        "new_message_days": [day for _, day in new],
        "missed_message_ids": sorted(state.missed_messages),
        "group_ids": sorted(state.group_ids),
    }


def _session_values(state: SessionMisses) -> dict:
    return {
        "session_id": state.session_id,
        "workspace_id": state.workspace_id,
        "agent_id": state.agent_id,
        "missed_count": state.missed_count,
        "longest_run": state.longest_run,
        "customer_message_ids": list(state.customer_messages),
        "customer_message_days": list(state.customer_messages.values()),
        "missed_message_ids": sorted(state.missed_messages),
        "group_ids": sorted(state.group_ids),
    }


def _occurrence_values(occurrence: Occurrence) -> dict:
    # Keys that are not columns are ignored; the stored question is the text as reported.
    return {**vars(occurrence), "question": occurrence.text}


def _day_values(key: tuple[str, str, date], counts: list[int]) -> dict:
    workspace_id, agent_id, day = key
    return {
        "workspace_id": workspace_id,
        "agent_id": agent_id,
        "day": day,
        "customer_messages": counts[0],
        "missed": counts[1],
    }
