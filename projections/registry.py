"""The read models the ledger maintains, and the DDL they need."""

from __future__ import annotations

import psycopg

from domain.rules import DEFAULT_RULES
from infra.database import apply_schema, schema_lock
from projections.asr_metrics import AsrMetrics
from projections.audit_trail import AuditTrailProjection
from projections.engine import EventSource, Projection, schema_sql
from projections.generations import (
    REBUILDABLE,
    LiveProjections,
    dropped_originals,
    registry_schema,
)
from projections.leads import LeadsProjection
from projections.missed_questions import MissedQuestionsProjection
from projections.session_list import SessionListProjection


def all_projections() -> list[Projection]:
    """Every read model, over its original tables (generation 1) and the built-in rules."""
    return [
        # asr_metrics is derived from session_list rows, in the same transaction.
        SessionListProjection(DEFAULT_RULES, derived=[AsrMetrics()]),
        MissedQuestionsProjection(),
        LeadsProjection(DEFAULT_RULES),
        AuditTrailProjection(),
    ]


def streaming_projections(source: EventSource) -> LiveProjections:
    """What the stream processor feeds: the live and shadow generations of the rebuildable
    read models (re-read per batch), and any read model that is not rebuildable (today: none;
    every read model is in ``REBUILDABLE``)."""
    fixed = [p for p in all_projections() if p.name not in REBUILDABLE]
    return LiveProjections(fixed, source)


def read_model_schema(without: frozenset[str] = frozenset()) -> list[str]:
    """The DDL of the engine, of every read model's original tables (generation 1) but those
    of the read models named in ``without``, and of the generations' registry."""
    scripts = [schema_sql("engine.sql")]
    for projection in all_projections():
        if projection.name not in without:
            scripts.extend(projection.schema())
    return [*scripts, *registry_schema()]


def apply_read_model_schema(url: str) -> None:
    """``read_model_schema`` applied to the database at ``url``, but for the original tables
    of a read model whose generation 1 was dropped (retired by a switch, then dropped): every
    process start and CLI command applies the schema, and re-created them empty."""
    with schema_lock(url):
        with psycopg.connect(url, autocommit=True) as conn:
            dropped = frozenset(dropped_originals(conn))
        apply_schema(url, read_model_schema(dropped), locked=True)
