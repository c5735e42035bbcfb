"""A workspace's rules (read from and published to its ``ruleset`` stream) and the what-if
report that compares the analytics two rules versions give.

The ruleset stream is short (one event per publication), so versions are read straight from
the ledger: no read model to lag behind a publication.
"""

from __future__ import annotations

from dataclasses import dataclass

from psycopg_pool import ConnectionPool

from api.commands import AppendResult, Caller, NewEvent, StreamCommands
from api.queries import AsrMetricsQueries, MetricsGroup, MetricsPeriod
from api.schemas import AsrMetricsRow
from domain.errors import StreamNotFound, VersionConflict
from domain.rules import RuleSet
from domain.rules_events import (
    PublishedRules,
    RulesPublished,
    next_rules,
    published_rules,
    ruleset_stream_id,
)
from infra.event_store import EventStore
from projections.generations import LIVE, RETIRED, SHADOW, Generation, Generations

# Generations a what-if may read, most trusted first: the live one, a caught-up shadow, an
# old retired one (its tables stopped being fed when it was switched out).
REPORTABLE = (LIVE, SHADOW, RETIRED)
COMPARED = ("sessions", "opportunities", "asr", "oss", "css")


class RulesVersionNotFound(StreamNotFound):
    def __init__(self, workspace_id: str, version: int) -> None:
        super().__init__(
            f"workspace {workspace_id!r} has no rules version {version}", field="version"
        )


class NoGenerationForRules(StreamNotFound):
    def __init__(self, workspace_id: str, version: int) -> None:
        super().__init__(
            f"no session_list generation is built under rules version {version} of"
            f" {workspace_id!r}; build one with `ledger rebuild session_list --rules {version}"
            f" --workspace {workspace_id} --no-switch`"
        )


class WorkspaceRulesBook:
    def __init__(self, store: EventStore, streams: StreamCommands) -> None:
        self.store = store
        self.streams = streams

    def versions(self, workspace_id: str) -> list[PublishedRules]:
        return published_rules(self.store.read_stream(ruleset_stream_id(workspace_id)))

    def version(self, workspace_id: str, version: int) -> PublishedRules:
        versions = self.versions(workspace_id)
        if not 0 <= version < len(versions):
            raise RulesVersionNotFound(workspace_id, version)
        return versions[version]

    def publish(self, rules: RuleSet, reason: str, caller: Caller) -> AppendResult:
        """Record ``rules`` as the next version; an explicit ``rules.version`` must be it."""
        expected = rules.version - 1 if rules.version else None
        try:
            return self.streams.append(
                ruleset_stream_id(caller.workspace_id),
                NewEvent(RulesPublished(rules=rules, reason=reason)),
                caller,
                next_rules,
                expected_version=expected,
            )
        except VersionConflict as conflict:
            # Told in the body's own terms: the version it named, and the one that is next.
            raise VersionConflict(
                f"the next rules version is {conflict.actual + 1}, not {rules.version}",
                expected=conflict.expected,
                actual=conflict.actual,
                field="rules.version",
            ) from None


@dataclass(frozen=True)
class Compared:
    before: float | None
    after: float | None

    @property
    def change(self) -> float | None:
        if self.before is None or self.after is None:
            return None
        return self.after - self.before


@dataclass(frozen=True)
class WhatIfRow:
    agent_id: str
    month: str  # YYYY-MM
    figures: dict[str, Compared]


@dataclass(frozen=True)
class WhatIfReport:
    from_version: int
    to_version: int
    from_generation: int
    to_generation: int
    rows: list[WhatIfRow]


def what_if(pool: ConnectionPool, workspace_id: str, from_version: int, to_version: int):
    """ASR, opportunities, OSS and CSS per agent and month, from the tables built under each
    version (the live generation and a rebuilt shadow, typically)."""
    generations = Generations(pool).list("session_list")
    before = _generation_under(generations, workspace_id, from_version)
    after = _generation_under(generations, workspace_id, to_version)
    old, new = _monthly(pool, workspace_id, before), _monthly(pool, workspace_id, after)
    rows = [
        WhatIfRow(
            agent_id=agent,
            month=f"{month:%Y-%m}",
            figures={
                name: Compared(
                    _figure(old.get((agent, month)), name), _figure(new.get((agent, month)), name)
                )
                for name in COMPARED
            },
        )
        for agent, month in sorted(old.keys() | new.keys(), key=lambda key: (key[1], key[0]))
    ]
    return WhatIfReport(from_version, to_version, before.generation, after.generation, rows)


def _generation_under(generations: list[Generation], workspace_id: str, version: int) -> Generation:
    candidates = [
        g
        for g in generations
        if g.status in REPORTABLE and g.rules_version(workspace_id) == version
    ]
    if not candidates:
        raise NoGenerationForRules(workspace_id, version)
    return min(candidates, key=lambda g: (REPORTABLE.index(g.status), -g.generation))


def _monthly(pool: ConnectionPool, workspace_id: str, generation: Generation):
    report = AsrMetricsQueries(pool, table=generation.tables["asr_metrics"]).report(
        workspace_id, group_by=MetricsGroup.agent, period=MetricsPeriod.month
    )
    return {(row.group, row.period_start): row for row in report.rows}


def _figure(row: AsrMetricsRow | None, name: str) -> float | None:
    return None if row is None else getattr(row, name)
