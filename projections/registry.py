"""The read models the ledger maintains, and the DDL they need."""

from __future__ import annotations

from domain.rules import DEFAULT_RULES
from projections.asr_metrics import AsrMetrics
from projections.audit_trail import AuditTrailProjection
from projections.engine import EventSource, Projection, schema_sql
from projections.generations import REBUILDABLE, LiveProjections, registry_schema
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


def read_model_schema() -> list[str]:
    scripts = [schema_sql("engine.sql")]
    for projection in all_projections():
        scripts.extend(projection.schema())
    return [*scripts, *registry_schema()]
