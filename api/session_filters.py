"""The Sessions screen's filters on ``GET /v1/sessions``: the query model and its SQL.

Every filter given is combined with AND. Values only ever travel as bind parameters; the SQL
text is assembled from fixed fragments chosen by which filters are present. Times without a
zone are read in the workspace's time zone (from its rules). Pages are keyset-paginated over
(sort key, session_id), and the cursor names the sort it belongs to.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Annotated, Any
from uuid import UUID
from zoneinfo import ZoneInfo

import orjson
from psycopg import sql
from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from domain.errors import DomainError
from domain.rules import SessionLength
from domain.session_state import SessionStatus
from domain.values import Assessment, Channel, SentimentLabel, utc

Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
# No control characters: the contact search column separates fields with one.
SearchText = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200, pattern=r"^\P{C}+$")
]
MAX_PAGE = 500


class SortKey(StrEnum):
    started_at = "started_at"
    last_message_at = "last_message_at"


class SortOrder(StrEnum):
    desc = "desc"
    asc = "asc"


class CountOp(StrEnum):
    eq = "eq"
    ne = "ne"
    gt = "gt"
    lt = "lt"
    gte = "gte"
    lte = "lte"


class Preset(StrEnum):
    last_24h = "last_24h"
    last_7d = "last_7d"
    last_30d = "last_30d"


class Responsible(StrEnum):
    ai = "ai"
    human = "human"
    unassigned = "unassigned"


class Match(StrEnum):
    any = "any"
    all = "all"


class SessionFilters(BaseModel):
    """Which sessions of the list, in which order: the session list's query parameters but
    its paging, and so the parameters of every export of the list.

    Unknown parameters are ignored, not refused: other dependencies of the route (such as
    read-your-writes' ``min_position``) read their own parameters from the same query string.
    """

    model_config = ConfigDict(extra="ignore")

    agents: list[Text] = Field(default_factory=list, description="Any of these agent ids.")
    channels: list[Channel] = Field(default_factory=list)
    deployment: Text | None = None
    responsible: Responsible | None = None
    human_agent: Text | None = Field(default=None, description="Id of the human agent.")
    statuses: list[SessionStatus] = Field(default_factory=list)
    contact: SearchText | None = Field(
        default=None,
        description="Case-insensitive substring of the contact's name, email, phone or id.",
    )
    country: Text | None = None
    ip: Text | None = None
    started_from: datetime | None = Field(default=None, description="Inclusive; local if naive.")
    started_to: datetime | None = Field(default=None, description="Exclusive; local if naive.")
    started_within: Preset | None = None
    finished_from: datetime | None = None
    finished_to: datetime | None = None
    finished_within: Preset | None = None
    last_message_from: datetime | None = None
    last_message_to: datetime | None = None
    last_message_within: Preset | None = None
    message_count: int | None = Field(default=None, ge=0, description="Customer-visible messages.")
    message_count_op: CountOp = CountOp.eq
    has_attachments: bool | None = None
    has_customer_responses: bool | None = None
    sentiment: SentimentLabel | None = None
    negative_sentiment: bool | None = None
    goals: list[Text] = Field(default_factory=list, description="Reached any of these goals.")
    has_goals: bool | None = Field(default=None, description="Reached any goal at all.")
    journey_blocks: list[Text] = Field(default_factory=list, description="Entered any of these.")
    forms: list[Text] = Field(default_factory=list, description="Submitted any of these.")
    tags: list[Text] = Field(default_factory=list)
    tags_match: Match = Match.any
    session_type: Text | None = None
    integration: Text | None = None
    is_lead: bool | None = None
    is_opportunity: bool | None = None
    is_test: bool | None = Field(default=None, description="Default: live sessions only.")
    include_test: bool = Field(default=False, description="List test sessions too.")
    is_todo: bool | None = None
    is_archived: bool | None = None
    is_favorite: bool | None = None
    auto_assessment: Assessment | None = None
    human_assessment: Assessment | None = None
    effective_assessment: Assessment | None = None
    corrected_by_reviewer: bool | None = None
    session_length: SessionLength | None = None
    has_missed_questions: bool | None = None
    sort: SortKey = SortKey.started_at
    order: SortOrder = SortOrder.desc


class SessionListQuery(SessionFilters):
    """Query parameters of the session list: its filters and order, and one page of it."""

    limit: int = Field(default=50, ge=1, le=MAX_PAGE)
    cursor: str | None = Field(default=None, description="next_cursor of the previous page.")


class InvalidFilter(DomainError):
    code = "invalid_filter"
    http_status = 422


def check_range(first, last, *, first_name: str = "from", last_name: str = "to") -> None:
    """Refuse a range that ends before it begins: an empty answer would look like no data."""
    if first is not None and last is not None and last < first:
        raise InvalidFilter(f"{last_name} must not be before {first_name}", field=last_name)


class InvalidCursor(InvalidFilter):
    code = "invalid_cursor"

    def __init__(self, reason: str = "cursor is not one this API issued") -> None:
        super().__init__(reason, field="cursor")


# --- fixed SQL fragments, chosen by parameter name --------------------------------------------

_EQUALS = {
    "deployment": "deployment",
    "responsible": "responsible",
    "human_agent": "human_agent_id",
    "country": "country",
    "ip": "ip",
    "sentiment": "sentiment",
    "session_type": "session_type",
    "integration": "integration",
    "auto_assessment": "auto_assessment",
    "human_assessment": "human_assessment",
    "effective_assessment": "effective_assessment",
    "session_length": "session_length",
    "has_attachments": "has_attachments",
    "has_customer_responses": "has_customer_responses",
    "negative_sentiment": "negative_sentiment",
    "is_lead": "is_lead",
    "is_opportunity": "is_opportunity",
    "is_todo": "is_todo",
    "is_archived": "is_archived",
    "is_favorite": "is_favorite",
    "corrected_by_reviewer": "corrected_by_reviewer",
}
_ANY_OF = {"agents": "agent_id", "channels": "channel", "statuses": "status"}
_OVERLAPS = {"goals": "goals", "journey_blocks": "journey_blocks", "forms": "forms"}
_HOLDS = {
    "has_missed_questions": "missed_question_count > 0",
    "has_goals": "goals <> '{}'",
}
_COUNT_OPS = {
    CountOp.eq: "=",
    CountOp.ne: "<>",
    CountOp.gt: ">",
    CountOp.lt: "<",
    CountOp.gte: ">=",
    CountOp.lte: "<=",
}
_PRESETS = {
    Preset.last_24h: timedelta(hours=24),
    Preset.last_7d: timedelta(days=7),
    Preset.last_30d: timedelta(days=30),
}
# Sessions with no message yet sort as the oldest, so the key is never NULL (keyset needs it).
_SORT_EXPRESSIONS = {
    SortKey.started_at: "started_at",
    SortKey.last_message_at: "coalesce(last_message_at, '-infinity'::timestamptz)",
}
NO_KEY = "-infinity"


@dataclass(frozen=True)
class _TimeRange:
    column: str
    start: str
    end: str
    within: str


_TIME_RANGES = (
    _TimeRange("started_at", "started_from", "started_to", "started_within"),
    _TimeRange("finished_at", "finished_from", "finished_to", "finished_within"),
    _TimeRange("last_message_at", "last_message_from", "last_message_to", "last_message_within"),
)


class _Where:
    """Conditions and their bind parameters, collected together so they cannot drift apart."""

    def __init__(self) -> None:
        self.conditions: list[sql.Composable] = []
        self.params: list[Any] = []

    def add(self, condition: str, *params: Any) -> None:
        self.conditions.append(sql.SQL(condition))
        self.params.extend(params)

    def sql(self) -> sql.Composable:
        return sql.SQL(" AND ").join(self.conditions)


@dataclass(frozen=True)
class PageQuery:
    statement: sql.Composed
    params: list[Any]


def page_query(
    query: SessionListQuery,
    *,
    table: str,
    columns: list[str],
    workspace_id: str,
    zone: ZoneInfo,
    now: datetime,
) -> PageQuery:
    """One page (``limit`` + 1 rows, to know whether there is a next) of matching sessions."""
    where = _Where()
    where.add("workspace_id = %s", workspace_id)
    _add_filters(where, query, zone, now)
    sort_key = sql.SQL(_SORT_EXPRESSIONS[query.sort])
    if query.cursor:
        key, session_id = decode_cursor(query.cursor, query.sort, query.order)
        after = "<" if query.order is SortOrder.desc else ">"
        where.conditions.append(
            sql.SQL("({key}, session_id) {after} (%s::timestamptz, %s)").format(
                key=sort_key, after=sql.SQL(after)
            )
        )
        where.params.extend([key, session_id])
    direction = sql.SQL(query.order.value.upper())
    statement = sql.SQL(
        "SELECT {columns} FROM {table} WHERE {where}"
        " ORDER BY {key} {direction}, session_id {direction} LIMIT %s"
    ).format(
        columns=sql.SQL(", ").join(map(sql.Identifier, columns)),
        table=sql.Identifier(table),
        where=where.sql(),
        key=sort_key,
        direction=direction,
    )
    return PageQuery(statement, [*where.params, query.limit + 1])


def _add_filters(where: _Where, query: SessionListQuery, zone: ZoneInfo, now: datetime) -> None:
    given = {name: value for name, value in query if value is not None and value != []}
    for name, column in _EQUALS.items():
        if name in given:
            where.add(f"{column} = %s", _plain(given[name]))
    for name, column in _ANY_OF.items():
        if name in given:
            where.add(f"{column} = ANY(%s::text[])", [_plain(v) for v in given[name]])
    for name, column in _OVERLAPS.items():
        if name in given:
            where.add(f"{column} && %s::text[]", given[name])
    for name, condition in _HOLDS.items():
        if name in given:
            where.add(f"({condition}) = %s", given[name])
    if "tags" in given:
        where.add(
            "tags @> %s::text[]" if query.tags_match is Match.all else "tags && %s::text[]",
            query.tags,
        )
    if "contact" in given:
        where.add("contact_search LIKE lower(%s)", f"%{_escape_like(query.contact or '')}%")
    if "message_count" in given:
        where.add(f"message_count {_COUNT_OPS[query.message_count_op]} %s", query.message_count)
    if query.is_test is not None:
        where.add("is_test = %s", query.is_test)
    elif not query.include_test:
        where.add("NOT is_test")
    for time_range in _TIME_RANGES:
        _add_time_range(where, query, time_range, zone, now)


def _add_time_range(
    where: _Where, query: SessionListQuery, time_range: _TimeRange, zone: ZoneInfo, now: datetime
) -> None:
    start, end = getattr(query, time_range.start), getattr(query, time_range.end)
    preset = getattr(query, time_range.within)
    start, end = _local(start, zone), _local(end, zone)
    if start is not None and end is not None and start >= end:
        raise InvalidFilter(
            f"{time_range.end} must be after {time_range.start}", field=time_range.end
        )
    if start is not None:
        where.add(f"{time_range.column} >= %s", start)
    if end is not None:
        where.add(f"{time_range.column} < %s", end)
    if preset is not None:
        where.add(f"{time_range.column} >= %s", now - _PRESETS[preset])


def _local(moment: datetime | None, zone: ZoneInfo) -> datetime | None:
    """A time without a zone is a wall-clock time in the workspace's time zone."""
    if moment is None or moment.tzinfo is not None:
        return moment
    return moment.replace(tzinfo=zone)


def _plain(value: Any) -> Any:
    return value.value if isinstance(value, StrEnum) else value


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


# --- cursors ----------------------------------------------------------------------------------


def encode_cursor(sort: SortKey, order: SortOrder, key: datetime | None, session_id: UUID) -> str:
    document = {
        "sort": sort.value,
        "order": order.value,
        "key": key.isoformat() if key else NO_KEY,
        "id": str(session_id),
    }
    return base64.urlsafe_b64encode(orjson.dumps(document)).decode()


def decode_cursor(cursor: str, sort: SortKey, order: SortOrder) -> tuple[datetime | str, UUID]:
    """The cursor's (sort key, session id); refused when issued for another sort."""
    try:
        document = orjson.loads(base64.urlsafe_b64decode(cursor.encode()))
        issued_for = (SortKey(document["sort"]), SortOrder(document["order"]))
        key = document["key"]
        # The parsed instant goes to SQL, never the cursor's text: fromisoformat accepts
        # spellings PostgreSQL refuses (ISO week dates, offsets with fractional seconds).
        key = NO_KEY if key == NO_KEY else cursor_instant(key)
        session_id = UUID(cursor_text(document["id"]))
    except (ValueError, KeyError, TypeError) as error:
        raise InvalidCursor() from error
    if issued_for != (sort, order):
        raise InvalidCursor(
            f"cursor was issued for sort={issued_for[0]}&order={issued_for[1]},"
            f" not sort={sort}&order={order}"
        )
    return key, session_id


def cursor_text(value: Any) -> str:
    """A cursor's value as the text this API wrote; a TypeError for any other JSON value (a
    tampered cursor's number would otherwise reach parsers that fail on it unpredictably,
    ``UUID(123)`` with an AttributeError)."""
    if not isinstance(value, str):
        raise TypeError(f"a cursor holds text, not {type(value).__name__}")
    return value


def cursor_instant(value: Any) -> datetime:
    """A cursor's instant in UTC; a ValueError or TypeError when it is not one.

    Keys are written from timestamptz columns, so one without a zone was not written here.
    In UTC, an offset PostgreSQL refuses (fractional seconds) is gone."""
    moment = datetime.fromisoformat(cursor_text(value))
    if moment.tzinfo is None:
        raise ValueError("a cursor's instant has a time zone")
    return utc(moment)
