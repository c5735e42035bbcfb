"""asr_metrics: ASR, OSS and CSS per workspace, agent, channel and local day.

Why a materialisation of ``session_list`` and not a fold of its own: every figure here is a
sum over session rows whose lead/ASR fields are already recomputed from all of the session's
facts; an override that arrives weeks later (a human assessment, an ``is_test`` or
``is_opportunity`` flag) changes one session row, and the day it belongs to must change with
it. ``session_list`` knows each row as it was before a batch and as it is after, so it hands
both here, in the same transaction, and each group is changed by the difference: the old
row's share taken out, the new one's added. Consequences:

- the cost of a batch is its changed rows, never the size of their groups (re-adding a
  group's whole day from ``session_list`` grew with the day: 4.6 -> 17.9 ms per 1,000-event
  batch over a 200,000-event backlog whose sessions all started on one day);
- sums are ``numeric``, each value converted from its ``double precision`` in PostgreSQL, so
  adding and taking out is exact and a figure is the same however its rows arrived:
  streamed, rebuilt, in any batches (with floating-point sums, the order of the additions
  would show in the last digits);
- there is no per-stream bookkeeping of its own (the rows it is given are already
  exactly-once), and it can never disagree with ``session_list``;
- concurrent workers change a group's row with one upsert each, taken in key order, so they
  serialise on its row lock and never wait for each other in a cycle;
- rebuilding ``session_list`` (under new rules) rebuilds this table too.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from uuid import UUID

import orjson
from psycopg import Cursor, sql

from domain.asr import STAR_WEIGHT
from projections.engine import schema_sql
from projections.session_list import SessionRow

Group = tuple[str, str, str, date]  # workspace, agent, channel, local day

# The star weight as PostgreSQL reads it, the same text in the upsert and in the migration.
_STAR_WEIGHT = f"{STAR_WEIGHT!r}::numeric"

# A ``Share`` as JSON (orjson writes the dataclass in C; psycopg adapting a dozen arrays
# element by element cost a rebuild ~3 µs per event). A float's JSON text reads back as the
# same double, which PostgreSQL then converts to numeric as it does the stored column's.
_SHARE = """s(workspace_id text, agent_id text, channel text, day date, is_lead boolean,
    is_opportunity boolean, lead_value float8, asr float8, success_factor float8,
    conversation_quality int, rules_version int)"""

_ADD = f"""
INSERT INTO {{metrics}} AS m (workspace_id, agent_id, channel, day, sessions, leads,
    opportunities, lead_value, asr, success_sum, success_count, quality_sum, quality_count,
    rules_version)
SELECT c.workspace_id, c.agent_id, c.channel, c.day,
       sum(c.sign),
       coalesce(sum(c.sign) FILTER (WHERE c.is_lead), 0),
       coalesce(sum(c.sign) FILTER (WHERE c.is_opportunity), 0),
       sum(c.sign * c.lead_value::numeric),
       sum(c.sign * c.asr::numeric),
       coalesce(sum(c.sign * c.success_factor::numeric), 0),
       coalesce(sum(c.sign) FILTER (WHERE c.success_factor IS NOT NULL), 0),
       coalesce({_STAR_WEIGHT} * sum(c.sign * c.conversation_quality), 0),
       coalesce(sum(c.sign) FILTER (WHERE c.conversation_quality IS NOT NULL), 0),
       coalesce(max(c.rules_version) FILTER (WHERE c.sign > 0), max(c.rules_version))
FROM (
    SELECT -1 AS sign, * FROM json_to_recordset(%(taken_out)s::json) AS {_SHARE}
    UNION ALL
    SELECT 1, * FROM json_to_recordset(%(added)s::json) AS {_SHARE}
) AS c
GROUP BY c.workspace_id, c.day, c.agent_id, c.channel
ORDER BY c.workspace_id, c.day, c.agent_id, c.channel
ON CONFLICT (workspace_id, day, agent_id, channel) DO UPDATE SET
    sessions = m.sessions + EXCLUDED.sessions, leads = m.leads + EXCLUDED.leads,
    opportunities = m.opportunities + EXCLUDED.opportunities,
    lead_value = m.lead_value + EXCLUDED.lead_value, asr = m.asr + EXCLUDED.asr,
    success_sum = m.success_sum + EXCLUDED.success_sum,
    success_count = m.success_count + EXCLUDED.success_count,
    quality_sum = m.quality_sum + EXCLUDED.quality_sum,
    quality_count = m.quality_count + EXCLUDED.quality_count,
    rules_version = EXCLUDED.rules_version
"""

# Tables made before the sums were numeric: converted, and their sums added up again exactly
# from the session rows (the counts were exact already), once, under the schema lock.
_MIGRATE = f"""
DO $migrate$
BEGIN
    IF (SELECT data_type FROM information_schema.columns
        WHERE table_schema = current_schema() AND table_name = '{{metrics}}'
          AND column_name = 'asr') = 'double precision' THEN
        ALTER TABLE {{metrics}} ALTER lead_value TYPE numeric, ALTER asr TYPE numeric,
            ALTER success_sum TYPE numeric, ALTER quality_sum TYPE numeric;
        UPDATE {{metrics}} AS m
        SET lead_value = t.lead_value, asr = t.asr, success_sum = t.success_sum,
            quality_sum = t.quality_sum
        FROM (
            SELECT workspace_id, agent_id, channel, started_day AS day,
                   sum(lead_value::numeric) AS lead_value, sum(asr::numeric) AS asr,
                   coalesce(sum(success_factor::numeric) FILTER (WHERE is_opportunity), 0)
                       AS success_sum,
                   coalesce({_STAR_WEIGHT} * sum(conversation_quality), 0) AS quality_sum
            FROM {{sessions}} WHERE NOT is_test
            GROUP BY workspace_id, agent_id, channel, started_day
        ) AS t
        WHERE (m.workspace_id, m.agent_id, m.channel, m.day)
            = (t.workspace_id, t.agent_id, t.channel, t.day);
    END IF;
END
$migrate$
"""


@dataclass(frozen=True, slots=True)
class Share:
    """What one session row adds to its group's figures."""

    workspace_id: str
    agent_id: str
    channel: str
    day: date
    is_lead: bool
    is_opportunity: bool
    lead_value: float
    asr: float
    success_factor: float | None  # counted only for an opportunity, as OSS is theirs
    conversation_quality: int | None
    rules_version: int

    @property
    def group(self) -> Group:
        return (self.workspace_id, self.agent_id, self.channel, self.day)


class AsrMetrics:
    """Changed by ``SessionListProjection`` (pass it as ``derived``), never by the engine."""

    def __init__(self, *, table: str = "asr_metrics", sessions_table: str = "session_list") -> None:
        # No rules of its own: each row carries the rules version it was folded under.
        self.table = table
        self.sessions_table = sessions_table
        self._add: str | None = None

    def schema(self) -> list[str]:
        # The table names are ours (a rebuild's tables beside the live ones), never a caller's.
        return [
            schema_sql("asr_metrics.sql").replace("asr_metrics", self.table),
            _MIGRATE.format(metrics=self.table, sessions=self.sessions_table),
        ]

    def refresh(
        self, cur: Cursor, rows: Sequence[SessionRow], previous: Mapping[UUID, SessionRow]
    ) -> None:
        """Change each group by what ``rows`` changed in it (``previous``: the rows as stored
        before this batch). A message changes no share: the list hands over no row that only
        gained messages, and of the others many change no share either."""
        changes = share_changes(rows, previous)
        if not changes:
            return
        taken_out = [share for sign, share in changes if sign < 0]
        added = [share for sign, share in changes if sign > 0]
        cur.execute(
            self._statement(cur),
            {"taken_out": orjson.dumps(taken_out).decode(), "added": orjson.dumps(added).decode()},
        )

    def _statement(self, cur: Cursor) -> str:
        if self._add is None:
            self._add = sql.SQL(_ADD).format(metrics=sql.Identifier(self.table)).as_string(cur)
        return self._add


def share_changes(
    rows: Sequence[SessionRow], previous: Mapping[UUID, SessionRow]
) -> list[tuple[int, Share]]:
    """``(-1, old share)`` and ``(+1, new share)`` for every row whose share changed (a new
    row's always does; a test session has none), so that adding them all up, signed, turns
    the groups' figures from before the batch into after it."""
    changes = []
    for row in rows:
        before = previous.get(row.session_id)
        # Compared as plain tuples first: most rows change no share, and building a share
        # for each of them cost five times the rest of this function.
        if before is not None and _share_fields(before) == _share_fields(row):
            continue
        old, new = share_of(before) if before is not None else None, share_of(row)
        changes.extend((sign, share) for sign, share in ((-1, old), (1, new)) if share)
    return changes


def share_of(row: SessionRow) -> Share | None:
    fields = _share_fields(row)
    return None if fields is None else Share(*fields)


def _share_fields(row: SessionRow) -> tuple | None:
    """The fields of the row's ``Share``, in order; None when the row has no share."""
    if row.is_test or row.agent_id is None or row.channel is None or row.started_day is None:
        return None
    return (
        row.workspace_id,
        row.agent_id,
        row.channel,
        row.started_day,
        row.is_lead,
        row.is_opportunity,
        row.lead_value,
        row.asr,
        row.success_factor if row.is_opportunity else None,
        row.conversation_quality,
        row.rules_version,
    )
