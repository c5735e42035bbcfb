"""A read model over the tables of one generation: its DDL and its statements, with each of
its default table names (``leads``) replaced by the generation's (``leads__g3``).

The names come from ``projections.generations`` (ours, never a caller's value); in statements
they are still quoted as identifiers.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from types import SimpleNamespace

from psycopg import sql

from domain.rules import DEFAULT_RULES, RuleSet, WorkspaceRules
from projections.engine import schema_sql


def table_map(defaults: Sequence[str], given: Mapping[str, str] | None) -> dict[str, str]:
    """Default name -> the name to use; a name not given keeps its default."""
    unknown = set(given or {}) - set(defaults)
    if unknown:
        raise ValueError(f"not tables of this read model: {sorted(unknown)}")
    return {table: (given or {}).get(table, table) for table in defaults}


def schema_over(file: str, tables: Mapping[str, str]) -> str:
    """The DDL in ``projections/sql/file`` over ``tables``.

    Index names begin with their table's name and are renamed with it: an index name is
    unique in the schema, so ``CREATE INDEX IF NOT EXISTS`` of a new generation would
    otherwise find the live table's index and quietly create none.
    """
    longest_first = sorted(map(re.escape, tables), key=len, reverse=True)
    pattern = re.compile(r"\b(" + "|".join(longest_first) + ")")
    return pattern.sub(lambda found: tables[found[1]], schema_sql(file))


def over(template: str, tables: Mapping[str, str], **fragments: sql.Composable) -> sql.Composed:
    """``template`` with each ``{default_table_name}`` field set to its name in ``tables``
    (quoted) and the other fields to ``fragments``; a literal brace is written ``{{``."""
    names = {table: sql.Identifier(name) for table, name in tables.items()}
    return sql.SQL(template).format(**names, **fragments)


def statements(tables: Mapping[str, str], **templates: str) -> SimpleNamespace:
    """Each template composed over ``tables`` (``over``), under the same name."""
    return SimpleNamespace(**{name: over(text, tables) for name, text in templates.items()})


class TableSet:
    """A read model over several tables of one generation, under per-workspace rules.

    Set per class: ``name`` (the default one), ``TABLES`` (default table names),
    ``STATEMENTS`` (statement name -> template over them) and ``SCHEMA`` (its DDL file)."""

    name = ""
    TABLES: tuple[str, ...] = ()
    STATEMENTS: Mapping[str, str] = {}
    SCHEMA = ""

    def __init__(
        self,
        rules: RuleSet | WorkspaceRules = DEFAULT_RULES,
        *,
        tables: Mapping[str, str] | None = None,
        name: str | None = None,
    ) -> None:
        # ``name`` keys the exactly-once bookkeeping: a rebuilt generation has its own.
        self.name = name or type(self).name
        self.rules = WorkspaceRules.of_any(rules)
        self.tables = table_map(self.TABLES, tables)
        self.sql = statements(self.tables, **self.STATEMENTS)

    def schema(self) -> list[str]:
        return [schema_over(self.SCHEMA, self.tables)]
