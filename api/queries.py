"""Queries over the read models, scoped to the caller's workspace."""

from __future__ import annotations

from calendar import monthrange
from datetime import UTC, date, datetime, timedelta
from enum import StrEnum
from uuid import UUID

from psycopg import sql
from psycopg.rows import dict_row
from psycopg_pool import ConnectionPool

from api.schemas import AsrMetricsResponse, AsrMetricsRow, SessionListItem, SessionPage
from api.session_filters import SessionListQuery, SortKey, encode_cursor, page_query
from domain.rules import DEFAULT_RULES, RuleSet
from projections.engine import EventSource
from projections.generations import live_generation, live_table, rules_version

# ``lead_id`` is the leads read model's, not the list's: see ``_with_leads``.
LIST_COLUMNS = [name for name in SessionListItem.model_fields if name != "lead_id"]
# The lead each session belongs to now: its cluster's surviving lead (a merge re-points the
# smaller cluster's members, and leaves one lead per cluster alive).
LEADS_OF_SESSIONS = (
    "SELECT m.session_id, l.lead_id FROM {members} m"
    " JOIN {leads} l ON l.cluster_id = m.cluster_id AND l.merged_into IS NULL"
    " WHERE m.session_id = ANY(%s) AND m.workspace_id = %s"
)


class SessionQueries:
    """The session list, read from the live generation of ``session_list``.

    The generation is looked up in the registry on every query, so a switch-over is seen by
    the next request, all at once (one row flips in one UPDATE). Naive times in filters are
    read in the workspace's time zone under the generation's rules version, read from the
    ledger (``source``); published versions never change, so each is read once.

    ``table`` and ``rules`` pin both instead (tests, and reading a given generation).
    """

    def __init__(
        self,
        pool: ConnectionPool,
        rules: RuleSet = DEFAULT_RULES,
        table: str | None = None,
        source: EventSource | None = None,
    ) -> None:
        self.pool = pool
        self.rules = rules
        self._table = table
        self.source = source
        self._published: dict[tuple[str, int], RuleSet] = {}

    @property
    def table(self) -> str:
        return _table(self.pool, self._table, "session_list")

    def view(self, workspace_id: str) -> tuple[str, RuleSet]:
        """The table to read and the rules its rows were derived under, for one workspace."""
        if self._table is not None or self.source is None:
            return self.table, self.rules
        with self.pool.connection() as conn:
            generation = live_generation(conn, "session_list")
        version = generation.rules_version(workspace_id)
        key = (workspace_id, version)
        if key not in self._published:
            self._published[key] = rules_version(self.source, workspace_id, version)
        return generation.tables["session_list"], self._published[key]

    def page(self, workspace_id: str, query: SessionListQuery | None = None) -> SessionPage:
        """One page of the sessions matching every filter, keyset-paginated."""
        query = query or SessionListQuery()
        table, rules = self.view(workspace_id)
        built = page_query(
            query,
            table=table,
            columns=LIST_COLUMNS,
            workspace_id=workspace_id,
            zone=rules.defaults.zone,
            now=datetime.now(UTC),
        )
        rows = _fetch(self.pool, built.statement, built.params)
        items = self._with_leads(workspace_id, rows[: query.limit])
        if len(rows) <= query.limit:
            return SessionPage(items=items, next_cursor=None)
        last = items[-1]
        key = last.started_at if query.sort is SortKey.started_at else last.last_message_at
        cursor = encode_cursor(query.sort, query.order, key, last.session_id)
        return SessionPage(items=items, next_cursor=cursor)

    def row(self, workspace_id: str, session_id: UUID) -> SessionListItem | None:
        statement = sql.SQL(
            "SELECT {columns} FROM {table} WHERE workspace_id = %s AND session_id = %s"
        ).format(
            columns=sql.SQL(", ").join(map(sql.Identifier, LIST_COLUMNS)),
            table=sql.Identifier(self.table),
        )
        rows = _fetch(self.pool, statement, [workspace_id, session_id])
        return self._with_leads(workspace_id, rows)[0] if rows else None

    def _with_leads(self, workspace_id: str, rows: list[dict]) -> list[SessionListItem]:
        """The rows, each with its session's lead as the live leads read model has it.

        Read here, not copied into the list's rows: leads are merged in the ledger's global
        order by a read model of their own (rebuilt and switched on its own generations), and
        a merge moves every session of the smaller lead, which the list would have to follow
        row by row. One indexed look-up per page instead. A session the leads read model has
        not reached yet has none (``null``)."""
        if not rows:
            return []
        with self.pool.connection() as conn:
            tables = live_generation(conn, "leads").tables
            statement = sql.SQL(LEADS_OF_SESSIONS).format(
                members=sql.Identifier(tables["lead_members"]),
                leads=sql.Identifier(tables["leads"]),
            )
            ids = [row["session_id"] for row in rows]
            leads = dict(conn.execute(statement, (ids, workspace_id)).fetchall())
        return [SessionListItem(**row, lead_id=leads.get(row["session_id"])) for row in rows]


class MetricsGroup(StrEnum):
    agent = "agent"
    channel = "channel"


class MetricsPeriod(StrEnum):
    day = "day"
    week = "week"
    month = "month"

    def last_day(self, start: date) -> date:
        """The last day of the period that begins on ``start`` (weeks begin on Monday)."""
        if self is MetricsPeriod.day:
            return start
        if self is MetricsPeriod.week:
            return start + timedelta(days=6)
        return start.replace(day=monthrange(start.year, start.month)[1])


_GROUP_COLUMNS = {MetricsGroup.agent: "agent_id", MetricsGroup.channel: "channel"}

# OSS and CSS are recombined from sums and counts: exact for any period, unlike a mean of means.
_ASR_METRICS = """
SELECT {group} AS "group", date_trunc(%(period)s, day::timestamp)::date AS period_start,
       sum(sessions)::int AS sessions, sum(leads)::int AS leads,
       sum(opportunities)::int AS opportunities, sum(lead_value) AS lead_value, sum(asr) AS asr,
       sum(success_sum) / nullif(sum(success_count), 0) AS oss,
       sum(quality_sum) / nullif(sum(quality_count), 0) AS css,
       max(rules_version) AS rules_version
FROM {table}
WHERE workspace_id = %(workspace)s
  AND (%(first)s::date IS NULL OR day >= %(first)s::date)
  AND (%(last)s::date IS NULL OR day <= %(last)s::date)
GROUP BY 1, 2
HAVING sum(sessions) > 0
ORDER BY 2, 1
"""


class AsrMetricsQueries:
    """ASR, OSS and CSS per agent or channel and per day, week (from Monday) or month."""

    def __init__(self, pool: ConnectionPool, table: str | None = None) -> None:
        self.pool = pool
        self._table = table  # None: the live generation's (see SessionQueries)

    @property
    def table(self) -> str:
        return _table(self.pool, self._table, "asr_metrics")

    def report(
        self,
        workspace_id: str,
        *,
        group_by: MetricsGroup,
        period: MetricsPeriod,
        first_day: date | None = None,
        last_day: date | None = None,
    ) -> AsrMetricsResponse:
        statement = sql.SQL(_ASR_METRICS).format(
            group=sql.Identifier(_GROUP_COLUMNS[group_by]),
            table=sql.Identifier(self.table),
        )
        params = {
            "workspace": workspace_id,
            "period": period.value,
            "first": first_day,
            "last": last_day,
        }
        rows = _fetch(self.pool, statement, params)
        return AsrMetricsResponse(
            group_by=group_by.value,
            period=period.value,
            rows=[
                AsrMetricsRow(**row, **_covered(row, period, first_day, last_day)) for row in rows
            ],
        )


def _covered(row: dict, period: MetricsPeriod, first: date | None, last: date | None) -> dict:
    """The days a row's figures cover: its period, cut by the report's from/to. A week that
    ``from`` begins on a Thursday counts only Thursday to Sunday, and the reader must be able
    to tell that it is not the whole week."""
    start = row["period_start"]
    end = period.last_day(start)
    first_day = max(start, first) if first else start
    last_day = min(end, last) if last else end
    return {
        "first_day": first_day,
        "last_day": last_day,
        "clipped": (first_day, last_day) != (start, end),
    }


def _table(pool: ConnectionPool, given: str | None, read_model_table: str) -> str:
    if given is not None:
        return given
    with pool.connection() as conn:
        return live_table(conn, read_model_table)


def _fetch(pool: ConnectionPool, statement: sql.Composable, params) -> list[dict]:
    with pool.connection() as conn, conn.cursor(row_factory=dict_row) as cur:
        cur.execute(statement, params)
        return cur.fetchall()
