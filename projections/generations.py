"""Read model generations: which tables hold a read model, under which rules, and which
generation the API reads (``read_model_generations``, see projections/sql/generations.sql).

A *generation* of a rebuildable read model is a set of tables (``session_list__g3``,
``asr_metrics__g3``) built under one rules version per workspace, with exactly-once
bookkeeping of its own (``projection_streams`` rows under ``session_list__g3``). Generation 1
is the original, unsuffixed tables.

Who feeds what:

- ``building``: only the rebuild driver (``projections.rebuild``), from the event store's log.
- ``shadow`` and ``live``: the stream processor, through ``LiveProjections``, which re-reads
  this registry at the start of every batch transaction (one indexed query; no cache to go
  stale, no NOTIFY to miss).
- ``retired``, ``cancelled``: nobody; their tables stay until ``drop``.

The switch-over lock, ``SWITCH_LOCK``: every stream-processor batch takes it *shared* as the
first statement of its transaction and reads the registry after it got it; a rebuild takes it
*exclusive* for the transaction that applies the last events and turns ``building`` into
``shadow``, and ``switch`` takes it for the one UPDATE that flips ``live``/``retired``. Why no
event is lost is argued in ``projections.rebuild``.

A log-ordered read model (``leads``, ``order = "global"``) keeps, instead of per-stream
versions, a log cursor: ``projection_status.position`` under its bookkeeping key, so each
generation has its own. The argument holds for it as it is: the rebuild's last transaction
leaves the generation's cursor at the head H it applied up to, and a worker batch after it
reads the log from that cursor to its newest position (H, p], under the row lock of the cursor,
so every event after H is applied once, and none at or before H again.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson
from psycopg import Connection, Cursor, sql
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb
from psycopg_pool import ConnectionPool

from domain.errors import DomainError
from domain.rules import RuleSet, WorkspaceRules
from domain.rules_events import published_rules, ruleset_stream_id
from projections.asr_metrics import AsrMetrics
from projections.audit_trail import AuditTrailProjection
from projections.engine import EventSource, Projection, schema_sql
from projections.leads import TABLES as LEAD_TABLES
from projections.leads import LeadsProjection
from projections.missed_questions import TABLES as MISSED_QUESTION_TABLES
from projections.missed_questions import MissedQuestionsProjection
from projections.session_list import SessionListProjection

# pg_advisory_xact_lock key of the switch-over: "gen-swch" in ASCII.
SWITCH_LOCK = 0x67656E2D73776368
BUILDING, SHADOW, LIVE, RETIRED, CANCELLED, DROPPED = (
    "building",
    "shadow",
    "live",
    "retired",
    "cancelled",
    "dropped",
)
FED_BY_THE_WORKER = (SHADOW, LIVE)
DROPPABLE = (RETIRED, CANCELLED)


class UnknownReadModel(DomainError):
    code = "unknown_read_model"
    http_status = 404


class UnknownRulesVersion(DomainError):
    code = "unknown_rules_version"
    http_status = 422


class GenerationRefused(DomainError):
    """The generation is not in a state that allows this (e.g. dropping the live one)."""

    code = "generation_state"
    http_status = 409


@dataclass(frozen=True)
class Rebuildable:
    """A read model that can be rebuilt: its tables and how to build it over given tables."""

    name: str
    tables: tuple[str, ...]
    build: Callable[[str, dict[str, str], WorkspaceRules], Projection]
    # False for a read model no rule changes (its generations still record the versions).
    takes_rules: bool = True


def _session_list(name: str, tables: dict[str, str], rules: WorkspaceRules) -> Projection:
    # asr_metrics is refreshed from session_list rows in the same transaction, so it is
    # rebuilt with them, in the same generation.
    metrics = AsrMetrics(table=tables["asr_metrics"], sessions_table=tables["session_list"])
    return SessionListProjection(rules, table=tables["session_list"], derived=[metrics], name=name)


def _missed_questions(name: str, tables: dict[str, str], rules: WorkspaceRules) -> Projection:
    # How wordings are normalised before they are grouped is the rules'.
    return MissedQuestionsProjection(rules, tables=tables, name=name)


def _leads(name: str, tables: dict[str, str], rules: WorkspaceRules) -> Projection:
    # Which identifiers merge, and national phone numbers' country, are the rules'.
    return LeadsProjection(rules, tables=tables, name=name)


def _audit_trail(name: str, tables: dict[str, str], _rules: WorkspaceRules) -> Projection:
    return AuditTrailProjection(table=tables["audit_trail"], name=name)


# In the order a batch applies them (log-ordered ones go first: ``ProjectionEngine``): the
# largest write first, so that PostgreSQL runs it while the worker folds the others. Measured
# with the engine alone (1,000-event batches of 500 conversations): session_list last, as
# by name, left the worker waiting 34-38 ms per batch for the commit; first, 17-27 ms.
REBUILDABLE = {
    spec.name: spec
    for spec in (
        Rebuildable("session_list", ("session_list", "asr_metrics"), _session_list),
        Rebuildable("missed_questions", MISSED_QUESTION_TABLES, _missed_questions),
        Rebuildable("leads", LEAD_TABLES, _leads),
        Rebuildable("audit_trail", ("audit_trail",), _audit_trail, takes_rules=False),
    )
}
# Every table of a read model (asr_metrics, lead_members) is rebuilt with that read model.
ALIASES = {
    table: spec.name for spec in REBUILDABLE.values() for table in spec.tables if table != spec.name
}


def rebuildable(name: str) -> Rebuildable:
    spec = REBUILDABLE.get(ALIASES.get(name, name))
    if spec is None:
        raise UnknownReadModel(
            f"{name!r} cannot be rebuilt; rebuildable: {', '.join(sorted(REBUILDABLE))}"
            " (each with all its tables, e.g. asr_metrics with session_list)",
            field="name",
        )
    return spec


@dataclass(frozen=True)
class Generation:
    projection: str
    generation: int
    rules_versions: dict[str, int]
    status: str
    position: int
    events_done: int
    events_per_second: float | None
    head: int | None
    started_at: datetime
    updated_at: datetime
    switched_at: datetime | None
    tables: dict[str, str]

    @property
    def key(self) -> str:
        """Its name in the exactly-once bookkeeping (projection_streams, projection_status)."""
        return bookkeeping_key(self.projection, self.generation)

    def rules_version(self, workspace_id: str) -> int:
        return self.rules_versions.get(workspace_id, 0)


def bookkeeping_key(projection: str, generation: int) -> str:
    return projection if generation == 1 else f"{projection}__g{generation}"


def table_names(spec: Rebuildable, generation: int) -> dict[str, str]:
    return {table: bookkeeping_key(table, generation) for table in spec.tables}


COLUMNS = (
    "projection, generation, rules_versions, status, position, events_done, events_per_second,"
    " head, started_at, updated_at, switched_at, tables"
)


def dropped_originals(conn: Connection) -> list[str]:
    """The read models whose original tables (generation 1) were dropped; none before the
    registry exists."""
    (registry,) = conn.execute("SELECT to_regclass('read_model_generations')").fetchone()
    if registry is None:
        return []
    rows = conn.execute(
        "SELECT projection FROM read_model_generations WHERE generation = 1 AND status = %s",
        (DROPPED,),
    ).fetchall()
    return [projection for (projection,) in rows]


def registry_schema() -> list[str]:
    """The registry, and generation 1 of every rebuildable read model: the original tables."""
    seeds = [
        "INSERT INTO read_model_generations (projection, generation, status, tables, switched_at)"
        f" VALUES ('{spec.name}', 1, 'live', '{orjson.dumps(table_names(spec, 1)).decode()}',"
        " now()) ON CONFLICT DO NOTHING;"
        for spec in REBUILDABLE.values()
    ]
    return [schema_sql("generations.sql"), "\n".join(seeds)]


def _generation(row: dict[str, Any]) -> Generation:
    return Generation(**row)


class Generations:
    """The registry: read, create, switch, cancel, drop."""

    def __init__(self, pool: ConnectionPool) -> None:
        self.pool = pool

    def list(self, projection: str | None = None) -> list[Generation]:
        with self.pool.connection() as conn:
            return list_generations(conn, projection)

    def get(self, projection: str, generation: int) -> Generation:
        with self.pool.connection() as conn:
            return get_generation(conn, projection, generation)

    def live(self, projection: str) -> Generation:
        with self.pool.connection() as conn:
            return live_generation(conn, projection)

    def building(self, projection: str) -> Generation | None:
        found = [g for g in self.list(projection) if g.status == BUILDING]
        return found[0] if found else None

    def create(self, projection: str, rules_versions: dict[str, int]) -> Generation:
        """A new, empty ``building`` generation, its tables created beside the live ones."""
        spec = rebuildable(projection)
        with self.pool.connection() as conn, conn.transaction():
            conn.execute("SELECT pg_advisory_xact_lock(%s)", (SWITCH_LOCK,))
            (number,) = conn.execute(
                "SELECT coalesce(max(generation), 0) + 1 FROM read_model_generations"
                " WHERE projection = %s",
                (spec.name,),
            ).fetchone()
            tables = table_names(spec, number)
            empty = spec.build(bookkeeping_key(spec.name, number), tables, WorkspaceRules())
            for script in empty.schema():
                conn.execute(script)
            conn.execute(
                "INSERT INTO read_model_generations (projection, generation, rules_versions,"
                " status, tables) VALUES (%s, %s, %s, %s, %s)",
                (spec.name, number, Jsonb(rules_versions), BUILDING, Jsonb(tables)),
            )
        return self.get(spec.name, number)

    def switch(self, projection: str, generation: int) -> Generation:
        """Make a caught-up generation live and the live one retired, in one transaction, so
        every reader sees either the old or the new generation, never both or none."""
        spec = rebuildable(projection)
        with self.pool.connection() as conn, conn.transaction():
            conn.execute("SELECT pg_advisory_xact_lock(%s)", (SWITCH_LOCK,))
            target = get_generation(conn, spec.name, generation)
            if target.status == LIVE:
                return target
            if target.status != SHADOW:
                raise GenerationRefused(
                    f"generation {generation} is {target.status}; only a caught-up (shadow)"
                    " generation can be switched in",
                    field="generation",
                )
            # Retired first, then live: the one-live index is checked row by row, so a single
            # UPDATE of both rows failed whenever the new one came first in the table.
            for status, which in (("retired", "status = 'live'"), ("live", "generation = %(g)s")):
                conn.execute(
                    "UPDATE read_model_generations SET status = %(s)s, switched_at = now(),"
                    f" updated_at = now() WHERE projection = %(p)s AND {which}",
                    {"p": spec.name, "g": generation, "s": status},
                )
        return self.get(spec.name, generation)

    def cancel(self, projection: str, generation: int | None = None) -> Generation:
        """Stop a rebuild (``building``) or a shadow; a running driver stops at its next batch."""
        spec = rebuildable(projection)
        with self.pool.connection() as conn, conn.transaction():
            conn.execute("SELECT pg_advisory_xact_lock(%s)", (SWITCH_LOCK,))
            target = (
                get_generation(conn, spec.name, generation)
                if generation is not None
                else _the_rebuild(conn, spec.name)
            )
            if target.status not in (BUILDING, SHADOW):
                raise GenerationRefused(
                    f"generation {target.generation} is {target.status}: nothing to cancel",
                    field="generation",
                )
            _set_status(conn, target, CANCELLED)
        return self.get(spec.name, target.generation)

    def drop(self, projection: str, generation: int) -> Generation:
        """Drop a retired or cancelled generation's tables and bookkeeping."""
        spec = rebuildable(projection)
        with self.pool.connection() as conn, conn.transaction():
            target = get_generation(conn, spec.name, generation)
            if target.status not in DROPPABLE:
                raise GenerationRefused(
                    f"generation {generation} is {target.status}; only a retired or cancelled"
                    " generation can be dropped",
                    field="generation",
                )
            for table in target.tables.values():
                conn.execute(sql.SQL("DROP TABLE IF EXISTS {}").format(sql.Identifier(table)))
            for bookkeeping in ("projection_streams", "projection_status"):
                conn.execute(f"DELETE FROM {bookkeeping} WHERE projection = %s", (target.key,))
            _set_status(conn, target, DROPPED)
        return self.get(spec.name, generation)


def _the_rebuild(conn: Connection, projection: str) -> Generation:
    running = [g for g in list_generations(conn, projection) if g.status == BUILDING]
    if not running:
        raise GenerationRefused(f"no rebuild of {projection} is running", field="name")
    return running[0]


def _set_status(conn: Connection, target: Generation, status: str) -> None:
    conn.execute(
        "UPDATE read_model_generations SET status = %s, updated_at = now()"
        " WHERE projection = %s AND generation = %s",
        (status, target.projection, target.generation),
    )


def list_generations(conn: Connection, projection: str | None = None) -> list[Generation]:
    with conn.cursor(row_factory=dict_row) as cur:
        cur.execute(
            f"SELECT {COLUMNS} FROM read_model_generations"
            " WHERE %(p)s::text IS NULL OR projection = %(p)s ORDER BY projection, generation",
            {"p": projection},
        )
        return [_generation(row) for row in cur.fetchall()]


def get_generation(conn: Connection, projection: str, generation: int) -> Generation:
    found = [g for g in list_generations(conn, projection) if g.generation == generation]
    if not found:
        raise UnknownReadModel(f"{projection} has no generation {generation}", field="generation")
    return found[0]


def live_generation(conn: Connection, projection: str) -> Generation:
    with conn.cursor(row_factory=dict_row) as cur:
        cur.execute(
            f"SELECT {COLUMNS} FROM read_model_generations"
            " WHERE projection = %s AND status = 'live'",
            (projection,),
        )
        row = cur.fetchone()
    if row is None:  # a database from before generations: the original tables
        spec = rebuildable(projection)
        return Generation(
            spec.name,
            1,
            {},
            LIVE,
            0,
            0,
            None,
            None,
            datetime.min,
            datetime.min,
            None,
            table_names(spec, 1),
        )
    return _generation(row)


def live_keys(conn: Connection, names: Sequence[str]) -> dict[str, str]:
    """Each read model's bookkeeping key in its live generation -> the read model's name."""
    return {
        (live_generation(conn, name).key if name in REBUILDABLE else name): name for name in names
    }


def live_table(conn: Connection, table: str) -> str:
    """The name of ``table`` in the live generation of the read model it belongs to."""
    return live_generation(conn, rebuildable(table).name).tables[table]


# --- rules of a generation ----------------------------------------------------------------------


def workspace_rules(source: EventSource, rules_versions: dict[str, int]) -> WorkspaceRules:
    """The published rule sets a generation is built under, read from the ledger."""
    return WorkspaceRules(
        {workspace: rules_version(source, workspace, v) for workspace, v in rules_versions.items()}
    )


def rules_version(source: EventSource, workspace_id: str, version: int) -> RuleSet:
    versions = published_rules(source.read_stream(ruleset_stream_id(workspace_id)))
    if not 0 <= version < len(versions):
        raise UnknownRulesVersion(
            f"workspace {workspace_id!r} has no rules version {version}"
            f" (published: 0..{len(versions) - 1})",
            field="rules_version",
        )
    return versions[version].rules


def build(generation: Generation, source: EventSource) -> Projection:
    spec = rebuildable(generation.projection)
    rules = workspace_rules(source, generation.rules_versions)
    return spec.build(generation.key, generation.tables, rules)


def _apply_order(generation_row: tuple) -> tuple[int, int]:
    projection, number = generation_row[0], generation_row[1]
    return list(REBUILDABLE).index(projection), number


# --- what the stream processor feeds ------------------------------------------------------------


class LiveProjections:
    """The engine's read models for each batch: the fixed ones, plus every ``shadow`` and
    ``live`` generation of the rebuildable ones, read under the shared switch-over lock."""

    def __init__(self, fixed: Sequence[Projection], source: EventSource) -> None:
        self.fixed = list(fixed)
        self.source = source
        self._built: dict[tuple[str, int], Projection] = {}

    def current(self, cur: Cursor) -> list[Projection]:
        cur.execute("SELECT pg_advisory_xact_lock_shared(%s)", (SWITCH_LOCK,))
        cur.execute(
            "SELECT projection, generation, rules_versions, tables FROM read_model_generations"
            " WHERE status = ANY(%s)",
            (list(FED_BY_THE_WORKER),),
        )
        rows = sorted(cur.fetchall(), key=_apply_order)
        return [*self.fixed, *(self._projection(*row) for row in rows)]

    def _projection(self, projection: str, number: int, rules, tables) -> Projection:
        built = self._built.get((projection, number))
        if built is None:
            spec = rebuildable(projection)
            name = bookkeeping_key(projection, number)
            built = spec.build(name, tables, workspace_rules(self.source, rules))
            self._built[(projection, number)] = built
        return built
