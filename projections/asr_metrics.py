"""asr_metrics: ASR, OSS and CSS per workspace, agent, channel and local day.

Why a materialisation of ``session_list`` and not a fold of its own: every figure here is a
sum over session rows whose lead/ASR fields are already recomputed from all of the session's
facts; an override that arrives weeks later (a human assessment, an ``is_test`` or
``is_opportunity`` flag) changes one session row, and the day it belongs to must change with
it. Folding events into day totals would have to subtract the session's old contribution,
i.e. know it; aggregating the rows instead is exact by construction. So ``session_list``
refreshes this table in the same transaction, right after it stored the rows of a batch:
the groups those rows belong to are recomputed from ``session_list`` (a session's group never
changes: agent, channel and start are fixed when it starts). Consequences:

- there is no per-stream bookkeeping of its own (the rows it reads are already exactly-once),
  and it can never disagree with ``session_list``;
- concurrent workers serialise per group with a transaction-scoped advisory lock, taken in a
  fixed order, so the recompute that runs second sees the first one's committed rows;
- rebuilding ``session_list`` (under new rules) rebuilds this table too.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from datetime import date
from uuid import UUID

from psycopg import Cursor, sql

from domain.asr import STAR_WEIGHT
from domain.rules import DEFAULT_RULES, RuleSet, WorkspaceRules
from projections.engine import schema_sql
from projections.session_list import SessionRow

Group = tuple[str, str, str, date]  # workspace, agent, channel, local day

_REFRESH = """
INSERT INTO {metrics} AS m (workspace_id, agent_id, channel, day, sessions, leads,
    opportunities, lead_value, asr, success_sum, success_count, quality_sum, quality_count,
    rules_version)
SELECT g.workspace_id, g.agent_id, g.channel, g.day,
       count(s.session_id),
       count(*) FILTER (WHERE s.is_lead),
       count(*) FILTER (WHERE s.is_opportunity),
       coalesce(sum(s.lead_value), 0),
       coalesce(sum(s.asr), 0),
       coalesce(sum(s.success_factor) FILTER (WHERE s.is_opportunity), 0),
       count(s.success_factor) FILTER (WHERE s.is_opportunity),
       coalesce(%(star_weight)s * sum(s.conversation_quality), 0),
       count(s.conversation_quality),
       g.rules_version
FROM unnest(%(workspaces)s::text[], %(agents)s::text[], %(channels)s::text[], %(days)s::date[],
            %(versions)s::int[])
     AS g(workspace_id, agent_id, channel, day, rules_version)
LEFT JOIN {sessions} s
       ON s.workspace_id = g.workspace_id AND s.agent_id = g.agent_id
      AND s.channel = g.channel AND s.started_day = g.day AND NOT s.is_test
GROUP BY g.workspace_id, g.agent_id, g.channel, g.day, g.rules_version
ON CONFLICT (workspace_id, day, agent_id, channel) DO UPDATE SET
    sessions = EXCLUDED.sessions, leads = EXCLUDED.leads,
    opportunities = EXCLUDED.opportunities, lead_value = EXCLUDED.lead_value,
    asr = EXCLUDED.asr, success_sum = EXCLUDED.success_sum,
    success_count = EXCLUDED.success_count, quality_sum = EXCLUDED.quality_sum,
    quality_count = EXCLUDED.quality_count, rules_version = EXCLUDED.rules_version
"""


class AsrMetrics:
    """Refreshed by ``SessionListProjection`` (pass it as ``derived``), never by the engine."""

    def __init__(
        self,
        rules: RuleSet | WorkspaceRules = DEFAULT_RULES,
        *,
        table: str = "asr_metrics",
        sessions_table: str = "session_list",
    ) -> None:
        self.rules = WorkspaceRules.of_any(rules)
        self.table = table
        self.sessions_table = sessions_table

    def schema(self) -> list[str]:
        # The table name is ours (a rebuild's table beside the live one), never a caller's value.
        return [schema_sql("asr_metrics.sql").replace("asr_metrics", self.table)]

    def refresh(
        self, cur: Cursor, rows: Sequence[SessionRow], previous: Mapping[UUID, SessionRow]
    ) -> None:
        """Recompute the groups in which a row's contribution changed (``previous``: the rows
        as stored before this batch). A message changes no figure here, and most events are
        messages: a group none of whose rows changed what it adds up would be recomputed to
        the same figures, only slower the more sessions its day holds."""
        groups = sorted(affected_groups(rows, previous))
        if not groups:
            return
        self._lock(cur, groups)
        workspaces, agents, channels, days = (list(column) for column in zip(*groups, strict=True))
        cur.execute(
            sql.SQL(_REFRESH).format(
                metrics=sql.Identifier(self.table), sessions=sql.Identifier(self.sessions_table)
            ),
            {
                "workspaces": workspaces,
                "agents": agents,
                "channels": channels,
                "days": days,
                "versions": [self.rules.of(workspace).version for workspace in workspaces],
                "star_weight": STAR_WEIGHT,
            },
        )

    def _lock(self, cur: Cursor, groups: list[Group]) -> None:
        # Sorted keys, so two transactions can never wait for each other in a cycle.
        keys = sorted({hash_key(self.table, group) for group in groups})
        cur.execute("SELECT pg_advisory_xact_lock(key) FROM unnest(%s::bigint[]) AS key", (keys,))


def affected_groups(rows: Sequence[SessionRow], previous: Mapping[UUID, SessionRow]) -> set[Group]:
    """The groups whose figures ``rows`` may change: those of every row whose contribution
    differs from its ``previous`` one (a new row's always does), and the group a row left,
    should its group ever change."""
    groups = set()
    for row in rows:
        before = previous.get(row.session_id)
        if before is None or contribution(before) != contribution(row):
            groups.update(_group(r) for r in (row, before) if r is not None)
    groups.discard(None)
    return groups


def contribution(row: SessionRow) -> tuple:
    """Everything of a session row that ``_REFRESH`` adds up or groups by."""
    return (
        _group(row),
        row.is_test,
        row.is_lead,
        row.is_opportunity,
        row.lead_value,
        row.asr,
        row.success_factor,
        row.conversation_quality,
        row.rules_version,
    )


def _group(row: SessionRow) -> Group | None:
    if row.agent_id is None or row.channel is None or row.started_day is None:
        return None
    return (row.workspace_id, row.agent_id, row.channel, row.started_day)


def hash_key(table: str, group: Group) -> int:
    """A stable signed 64-bit advisory-lock key for one group of one metrics table."""
    digest = hashlib.blake2b(repr((table, *group)).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)
