"""The read models the ledger maintains, and the DDL they need."""

from __future__ import annotations

from domain.rules import DEFAULT_RULES
from projections.asr_metrics import AsrMetrics
from projections.audit_trail import AuditTrailProjection
from projections.engine import Projection, schema_sql
from projections.leads import LeadsProjection
from projections.missed_questions import MissedQuestionsProjection
from projections.session_list import SessionListProjection


def all_projections() -> list[Projection]:
    return [
        # asr_metrics is derived from session_list rows, in the same transaction.
        SessionListProjection(DEFAULT_RULES, derived=[AsrMetrics(DEFAULT_RULES)]),
        MissedQuestionsProjection(),
        LeadsProjection(),
        AuditTrailProjection(),
    ]


def read_model_schema() -> list[str]:
    scripts = [schema_sql("engine.sql")]
    for projection in all_projections():
        scripts.extend(projection.schema())
    return scripts
