"""Queries over the missed_questions, leads and audit_trail read models.

Every query is scoped to the caller's workspace: another workspace's id is a 404, exactly
like a missing one. Lists are keyset-paginated: the cursor holds the last row's sort key.

Tables: each read model is rebuildable (``projections.generations``), so a statement names
its tables as fields, ``{leads}``, set to the live generation's tables. They are looked up in
the registry once per query method, on the connection the statements then use: a switch-over
is seen by the next request, and one request never mixes two generations.
"""

from __future__ import annotations

import base64
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum
from typing import Any
from uuid import UUID

import orjson
from psycopg import Connection
from psycopg.rows import dict_row
from psycopg_pool import ConnectionPool

from api.read_model_schemas import (
    AuditEntryItem,
    AuditPage,
    LeadDetail,
    LeadMerge,
    LeadPage,
    LeadSession,
    LeadSummary,
    MissedQuestionDay,
    MissedQuestionDetail,
    MissedQuestionGroup,
    MissedQuestionOccurrence,
    MissedQuestionPage,
    MissedShareDay,
    MissedShareResponse,
)
from api.session_filters import cursor_instant, cursor_text
from domain.errors import DomainError, StreamNotFound
from domain.identity import normalise_phone
from projections.generations import live_generation
from projections.tables import over

# --- shared ---------------------------------------------------------------------------------


class InvalidKeysetCursor(DomainError):
    code = "invalid_cursor"
    http_status = 422

    def __init__(self) -> None:
        super().__init__("cursor is not one this API issued for this query", field="cursor")


def encode_keyset(*values: datetime | UUID | int) -> str:
    plain = [v.isoformat() if isinstance(v, datetime) else str(v) for v in values]
    return base64.urlsafe_b64encode(orjson.dumps(plain)).decode()


def decode_keyset(cursor: str, *types: Callable[[str], Any]) -> list[Any]:
    """The cursor's keys, each parsed from the text ``encode_keyset`` wrote by its type."""
    try:
        plain = orjson.loads(base64.urlsafe_b64decode(cursor.encode()))
        if not isinstance(plain, list) or len(plain) != len(types):
            raise ValueError("wrong number of keys")
        return [parse(cursor_text(value)) for parse, value in zip(types, plain, strict=True)]
    except (ValueError, TypeError) as error:
        raise InvalidKeysetCursor() from error


@dataclass
class Where:
    """A conjunction of SQL conditions and their (named) parameters."""

    clauses: list[str] = field(default_factory=list)
    params: dict[str, Any] = field(default_factory=dict)

    def add(self, clause: str, **params: Any) -> None:
        self.clauses.append(clause)
        self.params.update(params)

    def add_if(self, value: Any, clause: str, name: str) -> None:
        """Add ``clause`` (which names the parameter ``name``) only when a value was given."""
        if value is not None:
            self.add(clause, **{name: value})

    def sql(self) -> str:
        return " AND ".join(self.clauses) or "TRUE"


def day_start(day: date) -> datetime:
    return datetime.combine(day, time.min, tzinfo=UTC)


@dataclass(frozen=True)
class Reader:
    """One connection, and the tables of the generation its statements read."""

    conn: Connection
    tables: Mapping[str, str]

    def fetch(
        self, template: str, params: dict[str, Any] | list[Any], **fragments: str
    ) -> list[dict[str, Any]]:
        """``template`` over the tables, its other fields set to ``fragments`` (our own SQL
        text, whose table fields are set too)."""
        parts = {name: over(text, self.tables) for name, text in fragments.items()}
        with self.conn.cursor(row_factory=dict_row) as cur:
            cur.execute(over(template, self.tables, **parts), params)
            return cur.fetchall()

    def page(
        self, template: str, where: Where, limit: int, keys: tuple[str, str], **fragments: str
    ) -> tuple[list[dict[str, Any]], str | None]:
        """The page's rows, and the cursor after them when more follow (one row more is
        fetched to know); ``keys`` are the columns of the sort key, the last one unique."""
        params = {**where.params, "limit": limit + 1}
        rows = self.fetch(template, params, where=where.sql(), **fragments)
        if len(rows) <= limit:
            return rows, None
        last = rows[limit - 1]
        return rows[:limit], encode_keyset(*(last[key] for key in keys))


class ReadModelQueries:
    """Queries over ``read_model``; ``tables`` None: its live generation's (module doc)."""

    read_model: str

    def __init__(self, pool: ConnectionPool, tables: Mapping[str, str] | None = None) -> None:
        self.pool = pool
        self._tables = tables

    @contextmanager
    def _reader(self) -> Iterator[Reader]:
        with self.pool.connection() as conn:
            tables = self._tables or live_generation(conn, self.read_model).tables
            yield Reader(conn, tables)


# --- missed questions -----------------------------------------------------------------------


class MissedQuestionSort(StrEnum):
    occurrences = "occurrences"
    last_seen = "last_seen"


GROUP_COLUMNS = (
    "g.group_id, g.agent_id, g.question, g.occurrences, g.sessions, g.first_seen, g.last_seen,"
    " g.rules_version,"
    " COALESCE(s.status, 'unresolved') AS status, s.reason AS status_reason"
)
IN_RANGE = (
    "JOIN (SELECT group_id, count(*) AS occurrences_in_range FROM {missed_question_occurrences}"
    " WHERE workspace_id = %(workspace)s AND occurred_at >= %(start)s AND occurred_at < %(end)s"
    " GROUP BY group_id) r USING (group_id)"
)
# A group's status: the newest recorded on its own id or on a member's wording id (a status a
# reviewer set before rules regrouped the wording; see projections.missed_questions).
GROUPS = (
    "{missed_question_groups} g LEFT JOIN LATERAL (SELECT s.status, s.reason"
    " FROM {missed_question_status} s WHERE s.group_id = ANY(g.group_id || ARRAY("
    "SELECT w.wording_id FROM {missed_question_wordings} w WHERE w.group_id = g.group_id))"
    " ORDER BY s.position DESC NULLS LAST, s.changed_at DESC LIMIT 1) s ON TRUE"
)
GROUPS_PAGE = (
    "SELECT * FROM (SELECT {columns}, {in_range} AS occurrences_in_range, {sort} AS sort_key"
    f" FROM {GROUPS} {{join}} WHERE g.workspace_id = %(workspace)s) page"
    " WHERE {where} ORDER BY sort_key DESC, group_id DESC LIMIT %(limit)s"
)
# Asked by a wording id that rules merged into a group (an old link): that group; should rules
# that keep whitespace split one wording id over several groups, the largest.
GROUP_DETAIL = (
    f"SELECT {GROUP_COLUMNS}, NULL::bigint AS occurrences_in_range FROM {GROUPS}"
    " WHERE g.workspace_id = %(workspace)s AND g.group_id IN (SELECT %(id)s::uuid UNION ALL"
    " SELECT group_id FROM {missed_question_wordings} WHERE wording_id = %(id)s)"
    " ORDER BY g.group_id = %(id)s DESC, g.occurrences DESC, g.group_id LIMIT 1"
)
# A group's id or one of its members' wording ids: both are streams a status applies from.
GROUP_LISTED = (
    "SELECT 1 AS listed FROM {missed_question_groups}"
    " WHERE group_id = %(id)s AND workspace_id = %(workspace)s UNION ALL"
    " SELECT 1 FROM {missed_question_wordings}"
    " WHERE wording_id = %(id)s AND workspace_id = %(workspace)s LIMIT 1"
)
GROUP_DAYS = (
    "SELECT (occurred_at AT TIME ZONE 'UTC')::date AS day, count(*) AS occurrences,"
    " count(DISTINCT session_id) AS sessions FROM {missed_question_occurrences}"
    " WHERE group_id = %s GROUP BY day ORDER BY day"
)
GROUP_OCCURRENCES = (
    "SELECT session_id, message_id, occurred_at, question FROM {missed_question_occurrences}"
    " WHERE group_id = %s ORDER BY occurred_at DESC, session_id, version LIMIT %s"
)
SHARE_DAYS = (
    "SELECT agent_id, day, customer_messages, missed FROM {missed_question_daily}"
    " WHERE {where} ORDER BY agent_id, day"
)


class MissedQuestionQueries(ReadModelQueries):
    read_model = "missed_questions"

    def page(
        self,
        workspace_id: str,
        *,
        agent: str | None = None,
        status: str | None = None,
        day_from: date | None = None,
        day_to: date | None = None,
        sort: MissedQuestionSort = MissedQuestionSort.occurrences,
        limit: int = 50,
        cursor: str | None = None,
    ) -> MissedQuestionPage:
        """Groups, most occurrences (within the date range, when given) or latest first."""
        ranged = day_from is not None or day_to is not None
        where = Where(params={"workspace": workspace_id})
        if ranged:
            where.params.update(_range_params(day_from, day_to))
        where.add_if(agent, "agent_id = %(agent)s", "agent")
        where.add_if(status, "status = %(status)s", "status")
        if cursor:
            parse = int if sort is MissedQuestionSort.occurrences else cursor_instant
            key, group_id = decode_keyset(cursor, parse, UUID)
            where.add("(sort_key, group_id) < (%(key)s, %(after)s)", key=key, after=group_id)
        occurrences = "r.occurrences_in_range" if ranged else "g.occurrences"
        with self._reader() as reader:
            rows, next_cursor = reader.page(
                GROUPS_PAGE,
                where,
                limit,
                ("sort_key", "group_id"),
                columns=GROUP_COLUMNS,
                in_range="r.occurrences_in_range" if ranged else "NULL::bigint",
                sort=occurrences if sort is MissedQuestionSort.occurrences else "g.last_seen",
                join=IN_RANGE if ranged else "",
            )
        return MissedQuestionPage(
            items=[MissedQuestionGroup(**row) for row in rows], next_cursor=next_cursor
        )

    def detail(self, workspace_id: str, group_id: UUID, *, limit: int) -> MissedQuestionDetail:
        """The group, or the group a wording id was merged into (``group.group_id`` says)."""
        with self._reader() as reader:
            rows = reader.fetch(GROUP_DETAIL, {"workspace": workspace_id, "id": group_id})
            if not rows:
                raise StreamNotFound(f"missed question {group_id} not found")
            found = rows[0]["group_id"]
            days = reader.fetch(GROUP_DAYS, [found])
            occurrences = reader.fetch(GROUP_OCCURRENCES, [found, limit])
        return MissedQuestionDetail(
            group=MissedQuestionGroup(**rows[0]),
            status_reason=rows[0]["status_reason"],
            days=[MissedQuestionDay(**r) for r in days],
            occurrences=[MissedQuestionOccurrence(**r) for r in occurrences],
        )

    def is_listed(self, workspace_id: str, group_id: UUID) -> bool:
        """Whether ``group_id`` is one of the workspace's groups or a wording id in one."""
        with self._reader() as reader:
            return bool(reader.fetch(GROUP_LISTED, {"id": group_id, "workspace": workspace_id}))

    def share(
        self,
        workspace_id: str,
        *,
        agent: str | None = None,
        day_from: date | None = None,
        day_to: date | None = None,
    ) -> MissedShareResponse:
        where = Where()
        where.add("workspace_id = %(workspace)s", workspace=workspace_id)
        where.add_if(agent, "agent_id = %(agent)s", "agent")
        where.add_if(day_from, "day >= %(day_from)s", "day_from")
        where.add_if(day_to, "day <= %(day_to)s", "day_to")
        with self._reader() as reader:
            rows = reader.fetch(SHARE_DAYS, where.params, where=where.sql())
        return MissedShareResponse(
            items=[
                MissedShareDay(
                    **row,
                    share=row["missed"] / row["customer_messages"]
                    if row["customer_messages"]
                    else None,
                )
                for row in rows
            ]
        )


def _range_params(day_from: date | None, day_to: date | None) -> dict[str, datetime]:
    """Inclusive UTC days as a half-open interval of instants; the last day Python holds
    has no next day to end before, so it leaves the end open, as no ``day_to`` does."""
    return {
        "start": day_start(day_from) if day_from else datetime.min.replace(tzinfo=UTC),
        "end": day_start(day_to + timedelta(days=1))
        if day_to and day_to < date.max
        else datetime.max.replace(tzinfo=UTC),
    }


# --- leads ----------------------------------------------------------------------------------

LEAD_SUMMARY = (
    "SELECT l.lead_id, l.cluster_id, l.first_session_id, l.first_started_at, l.size AS sessions,"
    " (SELECT m.contact_name FROM {lead_members} m WHERE m.cluster_id = l.cluster_id"
    "  AND m.contact_name IS NOT NULL ORDER BY m.started_at DESC LIMIT 1) AS contact_name,"
    " (SELECT COALESCE(jsonb_agg(jsonb_build_object('kind', i.kind, 'value', i.value)"
    "  ORDER BY i.kind, i.value), '[]') FROM {lead_identifiers} i"
    "  WHERE i.cluster_id = l.cluster_id) AS identifiers"
    " FROM {leads} l"
)
LEADS_PAGE = (
    LEAD_SUMMARY + " WHERE l.merged_into IS NULL AND {where}"
    " ORDER BY l.first_started_at DESC, l.lead_id DESC LIMIT %(limit)s"
)
LEAD_SEARCH = (
    "(EXISTS (SELECT 1 FROM {lead_identifiers} i WHERE i.cluster_id = l.cluster_id"
    "  AND (i.value ILIKE %(pattern)s OR i.value = %(phone)s))"
    " OR EXISTS (SELECT 1 FROM {lead_members} m WHERE m.cluster_id = l.cluster_id"
    "  AND m.contact_name ILIKE %(pattern)s))"
)
LEAD_BY_ID = "SELECT lead_id, cluster_id FROM {leads} WHERE workspace_id = %s AND lead_id = %s"
ALIVE_IN_CLUSTER = LEAD_SUMMARY + " WHERE l.cluster_id = %s AND l.merged_into IS NULL"
LEAD_SESSIONS = (
    "SELECT session_id, channel, agent_id, started_at, status, contact_name, email, phone,"
    " external_id FROM {lead_members} WHERE cluster_id = %s ORDER BY started_at, session_id"
)
LEAD_IDENTIFIERS = (
    "SELECT kind, value, first_event_id, first_session_id, first_position"
    " FROM {lead_identifiers} WHERE cluster_id = %s ORDER BY kind, value"
)
LEAD_MERGES = (
    "SELECT m.merged_id AS merged_lead_id, m.survivor_id AS into_lead_id, m.identifier_kind,"
    " m.identifier_value, m.event_id, m.session_id, m.position, m.occurred_at,"
    " m.rules_version, m.moved_sessions FROM {lead_merges} m"
    " JOIN {leads} l ON l.lead_id = m.merged_id WHERE l.cluster_id = %s"
    " ORDER BY m.position NULLS LAST, m.occurred_at"
)


class LeadQueries(ReadModelQueries):
    read_model = "leads"

    def page(
        self,
        workspace_id: str,
        *,
        search: str | None = None,
        limit: int = 50,
        cursor: str | None = None,
    ) -> LeadPage:
        """Surviving leads, newest first; ``search`` matches identifiers and contact names."""
        where = Where()
        where.add("l.workspace_id = %(workspace)s", workspace=workspace_id)
        if search:
            where.add(
                LEAD_SEARCH,
                pattern=f"%{_like_escaped(search.strip())}%",
                phone=normalise_phone(search),
            )
        if cursor:
            started, lead_id = decode_keyset(cursor, cursor_instant, UUID)
            where.add(
                "(l.first_started_at, l.lead_id) < (%(started)s, %(after)s)",
                started=started,
                after=lead_id,
            )
        with self._reader() as reader:
            rows, next_cursor = reader.page(
                LEADS_PAGE, where, limit, ("first_started_at", "lead_id")
            )
        return LeadPage(items=[LeadSummary(**row) for row in rows], next_cursor=next_cursor)

    def detail(self, workspace_id: str, lead_id: UUID) -> LeadDetail:
        """The lead, or the lead that absorbed it (``merged_into``), with its whole story."""
        with self._reader() as reader:
            found = reader.fetch(LEAD_BY_ID, [workspace_id, lead_id])
            if not found:
                raise StreamNotFound(f"lead {lead_id} not found")
            cluster = found[0]["cluster_id"]
            lead = reader.fetch(ALIVE_IN_CLUSTER, [cluster])[0]
            merges = reader.fetch(LEAD_MERGES, [cluster])
            identifiers = reader.fetch(LEAD_IDENTIFIERS, [cluster])
            sessions = reader.fetch(LEAD_SESSIONS, [cluster])
        return LeadDetail(
            **{**lead, "identifiers": identifiers},
            requested_id=lead_id,
            merged_into=lead["lead_id"] if lead["lead_id"] != lead_id else None,
            session_list=[LeadSession(**row) for row in sessions],
            merges=[LeadMerge(**row, explanation=_explain(row)) for row in merges],
        )


def _like_escaped(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _explain(merge: dict[str, Any]) -> str:
    return (
        f"merged lead {merge['merged_lead_id']} into {merge['into_lead_id']} because both had"
        f" {merge['identifier_kind']} {merge['identifier_value']}, seen in event"
        f" {merge['event_id']} of session {merge['session_id']}"
        f" (position {merge['position']}, rules version {merge['rules_version']})"
    )


# --- audit trail ----------------------------------------------------------------------------

AUDIT_PAGE = (
    "SELECT event_id, stream_id, stream_type, version, position, event_type, action, field,"
    " before, after, reason, actor_kind, actor_id, actor_name, occurred_at, recorded_at, hash"
    " FROM {audit_trail} WHERE {where} ORDER BY recorded_at DESC, event_id DESC LIMIT %(limit)s"
)
# One statement for a whole page of sessions (the session report's Comment column).
LATEST_COMMENTS = (
    "SELECT DISTINCT ON (stream_id) stream_id, after #>> '{{}}' AS text FROM {audit_trail}"
    " WHERE workspace_id = %s AND stream_id = ANY(%s) AND event_type = 'session.comment_added'"
    " ORDER BY stream_id, recorded_at DESC, event_id DESC"
)


class AuditQueries(ReadModelQueries):
    read_model = "audit_trail"

    def page(
        self,
        workspace_id: str,
        *,
        actor: str | None = None,
        stream_id: UUID | None = None,
        kind: str | None = None,
        recorded_from: datetime | None = None,
        recorded_to: datetime | None = None,
        limit: int = 50,
        cursor: str | None = None,
    ) -> AuditPage:
        """Newest first. ``kind`` is an event type (session.flag_set) or its action (flag_set)."""
        where = Where()
        where.add("workspace_id = %(workspace)s", workspace=workspace_id)
        where.add_if(actor, "actor_id = %(actor)s", "actor")
        where.add_if(stream_id, "stream_id = %(stream)s", "stream")
        where.add_if(kind, "(event_type = %(kind)s OR action = %(kind)s)", "kind")
        where.add_if(recorded_from, "recorded_at >= %(recorded_from)s", "recorded_from")
        where.add_if(recorded_to, "recorded_at < %(recorded_to)s", "recorded_to")
        if cursor:
            at, event_id = decode_keyset(cursor, cursor_instant, UUID)
            where.add("(recorded_at, event_id) < (%(at)s, %(after)s)", at=at, after=event_id)
        with self._reader() as reader:
            rows, next_cursor = reader.page(AUDIT_PAGE, where, limit, ("recorded_at", "event_id"))
        return AuditPage(items=[_audit_item(row) for row in rows], next_cursor=next_cursor)

    def latest_comments(self, workspace_id: str, stream_ids: list[UUID]) -> dict[UUID, str]:
        """Each session's newest comment, for many sessions at once (absent: no comment)."""
        if not stream_ids:
            return {}
        with self._reader() as reader:
            rows = reader.fetch(LATEST_COMMENTS, [workspace_id, stream_ids])
        return {row["stream_id"]: row["text"] for row in rows}


def _audit_item(row: dict[str, Any]) -> AuditEntryItem:
    actor = {
        "kind": row.pop("actor_kind"),
        "id": row.pop("actor_id"),
        "name": row.pop("actor_name"),
    }
    return AuditEntryItem(**row, actor=actor)
