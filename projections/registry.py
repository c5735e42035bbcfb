"""The read models the ledger maintains, and the DDL they need."""

from __future__ import annotations

from projections.engine import Projection, schema_sql
from projections.session_list import SessionListProjection


def all_projections() -> list[Projection]:
    return [SessionListProjection()]


def read_model_schema() -> list[str]:
    scripts = [schema_sql("engine.sql")]
    for projection in all_projections():
        scripts.extend(projection.schema())
    return scripts
