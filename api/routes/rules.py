"""Rules as events: the versions of the caller's workspace's rules, publishing a new one,
a field-by-field diff of two versions, and the what-if report of their analytics."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query, status
from pydantic import BaseModel, Field

from api.deps import Admin, LedgerDep, Viewer
from api.routes import ERRORS
from api.rules import WorkspaceRulesBook, what_if
from domain.envelope import Actor
from domain.rules import RuleSet
from domain.rules_events import PublishedRules, diff_rules, published_rules
from domain.values import NonBlank
from projections.generations import REBUILDABLE, Generations

router = APIRouter(prefix="/v1/rules", tags=["rules"], responses=ERRORS)
FromVersion = Annotated[int, Query(alias="from", ge=0, description="Rules version before.")]
ToVersion = Annotated[int, Query(alias="to", ge=0, description="Rules version after.")]


class RulesVersionOut(BaseModel):
    version: int
    published_at: datetime | None
    actor: Actor | None = Field(description="Who published it; null for the built-in version 0.")
    reason: str | None


class RulesOut(RulesVersionOut):
    rules: RuleSet


class RulesListOut(BaseModel):
    live_version: int = Field(
        description="The version the live session list (and ASR metrics) is built under."
    )
    live_versions: dict[str, int] = Field(
        description="Per read model, the version its live generation is built under: each is"
        " rebuilt and switched on its own, so they may differ (audit_trail takes no rules)."
    )
    versions: list[RulesVersionOut]


class PublishIn(BaseModel):
    rules: RuleSet = Field(
        description="The whole rule set. `version` may be left out (the next one is assigned)"
        " or given: it must then be the next version (409 otherwise)."
    )
    reason: NonBlank


class PublishOut(RulesOut):
    position: int


class FieldChangeOut(BaseModel):
    field: str
    before: Any
    after: Any


class RulesDiffOut(BaseModel):
    from_version: int
    to_version: int
    changes: list[FieldChangeOut]


class ComparedOut(BaseModel):
    before: float | None
    after: float | None
    change: float | None


class WhatIfRowOut(BaseModel):
    agent_id: str
    month: str
    figures: dict[str, ComparedOut]


class WhatIfOut(BaseModel):
    from_version: int
    to_version: int
    from_generation: int
    to_generation: int
    rows: list[WhatIfRowOut]


def _book(ledger) -> WorkspaceRulesBook:
    return WorkspaceRulesBook(ledger.store, ledger.streams)


def _rules_out(published: PublishedRules) -> RulesOut:
    return RulesOut(**{**vars(published), "rules": published.rules})


@router.get("", response_model=RulesListOut, summary="Every version: who published it, when, why")
def list_rules(ledger: LedgerDep, who: Viewer) -> RulesListOut:
    generations = Generations(ledger.pool)
    live = {
        name: generations.live(name).rules_version(who.workspace_id)
        for name, spec in REBUILDABLE.items()
        if spec.takes_rules
    }
    versions = [RulesVersionOut(**vars(v)) for v in _book(ledger).versions(who.workspace_id)]
    return RulesListOut(live_version=live["session_list"], live_versions=live, versions=versions)


@router.post(
    "",
    response_model=PublishOut,
    status_code=status.HTTP_201_CREATED,
    summary="Publish a new version (the live read models keep theirs until a rebuild)",
)
def publish_rules(body: PublishIn, ledger: LedgerDep, who: Admin) -> PublishOut:
    result = _book(ledger).publish(body.rules, body.reason, who)
    published = published_rules(result.events)[-1]
    return PublishOut(**_rules_out(published).model_dump(), position=result.position)


@router.get("/diff", response_model=RulesDiffOut, summary="Field-by-field diff of two versions")
def rules_diff(
    ledger: LedgerDep, who: Viewer, from_version: FromVersion, to_version: ToVersion
) -> RulesDiffOut:
    book = _book(ledger)
    before = book.version(who.workspace_id, from_version).rules
    after = book.version(who.workspace_id, to_version).rules
    changes = [FieldChangeOut(**vars(change)) for change in diff_rules(before, after)]
    return RulesDiffOut(from_version=from_version, to_version=to_version, changes=changes)


@router.get(
    "/diff-report",
    response_model=WhatIfOut,
    summary="What-if: ASR, opportunities, OSS and CSS per agent and month under two versions",
)
def rules_diff_report(
    ledger: LedgerDep, who: Viewer, from_version: FromVersion, to_version: ToVersion
) -> WhatIfOut:
    """Compares the tables built under each version (e.g. the live generation and a shadow
    rebuilt with `switch: false`), so the effect is visible before switching."""
    report = what_if(ledger.pool, who.workspace_id, from_version, to_version)
    rows = [
        WhatIfRowOut(
            agent_id=row.agent_id,
            month=row.month,
            figures={
                name: ComparedOut(before=c.before, after=c.after, change=c.change)
                for name, c in row.figures.items()
            },
        )
        for row in report.rows
    ]
    return WhatIfOut(**{**vars(report), "rows": rows})


@router.get("/{version}", response_model=RulesOut, summary="One version of the rules")
def get_rules(version: int, ledger: LedgerDep, who: Viewer) -> RulesOut:
    return _rules_out(_book(ledger).version(who.workspace_id, version))
