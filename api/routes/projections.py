"""Read-model operations: status and lag, generations and their rebuild, parked events."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query, status
from pydantic import BaseModel, Field

from api.commands import Caller
from api.deps import Admin, Ledger, LedgerDep, Viewer
from api.routes import ERRORS
from domain.errors import DomainError
from projections.engine import ProjectionEngine
from projections.generations import (
    REBUILDABLE,
    Generation,
    live_generation,
    live_keys,
    rebuildable,
)
from projections.registry import all_projections, streaming_projections
from projections.status import ParkedEvent, ReadModelStatus, parked_events, read_model_status

router = APIRouter(prefix="/v1/projections", tags=["operations"], responses=ERRORS)


class ReadModelOut(ReadModelStatus):
    generation: int | None = Field(None, description="The live generation, if rebuildable.")


class GenerationOut(BaseModel):
    projection: str
    generation: int
    status: str = Field(description="building, shadow (caught up), live, retired, cancelled")
    rules_version: int = Field(description="The caller's workspace's rules version.")
    rules_versions: dict[str, int]
    position: int
    head: int | None
    events_done: int
    events_per_second: float | None
    eta_seconds: float | None
    started_at: datetime
    updated_at: datetime
    switched_at: datetime | None
    tables: dict[str, str]


class ProjectionsOut(BaseModel):
    ledger_position: int
    read_models: list[ReadModelOut]
    generations: list[GenerationOut] = []


class RebuildIn(BaseModel):
    rules_version: int | None = Field(
        None, ge=0, description="Your workspace's rules version; default: the live one's."
    )
    switch: bool = Field(True, description="Switch in when caught up (false: keep a shadow).")


class SwitchIn(BaseModel):
    generation: int = Field(ge=1)


class RetryOut(BaseModel):
    applied: int
    still_parked: int


def generation_out(generation: Generation, workspace_id: str) -> GenerationOut:
    building = generation.status == "building"
    left = (generation.head or 0) - generation.position
    rate = generation.events_per_second
    return GenerationOut(
        **vars(generation),
        rules_version=generation.rules_version(workspace_id),
        eta_seconds=left / rate if building and rate else None,
    )


@router.get("", response_model=ProjectionsOut, summary="Each read model's position and lag")
def projections(ledger: LedgerDep, who: Viewer) -> ProjectionsOut:
    """A rebuildable read model reports its live generation; every generation, with the
    progress of a running rebuild (events done, events/s, ETA), is under ``generations``."""
    head = ledger.store.max_position()
    with ledger.pool.connection() as conn:
        live = {name: live_generation(conn, name) for name in REBUILDABLE}
        by_key = live_keys(conn, [p.name for p in all_projections()])
        statuses = read_model_status(conn, list(by_key), head)
    return ProjectionsOut(
        ledger_position=head,
        read_models=[_read_model_out(s, by_key[s.projection], live) for s in statuses],
        generations=[generation_out(g, who.workspace_id) for g in ledger.generations.list()],
    )


def _read_model_out(
    status: ReadModelStatus, name: str, live: dict[str, Generation]
) -> ReadModelOut:
    generation = live[name].generation if name in live else None
    return ReadModelOut(**{**status.model_dump(), "projection": name}, generation=generation)


@router.post(
    "/{name}/rebuild",
    response_model=GenerationOut,
    status_code=status.HTTP_202_ACCEPTED,
    summary="Rebuild a read model into new tables (blue/green), in the background",
)
def rebuild(name: str, body: RebuildIn, ledger: LedgerDep, who: Admin) -> GenerationOut:
    """Resumes the running rebuild if there is one. Progress: `GET /v1/projections`."""
    spec = rebuildable(name)
    running = ledger.generations.building(spec.name)
    if running is not None and body.switch:
        _check_own_rules(ledger, running, who)  # resuming it would switch it in
    versions = None if body.rules_version is None else {who.workspace_id: body.rules_version}
    generation = ledger.rebuilds.start(spec.name, versions, switch=body.switch)
    return generation_out(generation, who.workspace_id)


@router.delete(
    "/{name}/rebuild",
    response_model=GenerationOut,
    summary="Cancel the rebuild, or a caught-up (shadow) generation",
)
def cancel_rebuild(
    name: str,
    ledger: LedgerDep,
    who: Admin,
    generation: Annotated[
        int | None,
        Query(ge=1, description="A shadow to stop feeding; default: the running rebuild"),
    ] = None,
) -> GenerationOut:
    spec = rebuildable(name)
    target = (
        ledger.generations.get(spec.name, generation)
        if generation is not None
        else ledger.generations.building(spec.name)
    )
    if target is not None:  # none running: cancel says so
        _check_own_rules(ledger, target, who)
    return generation_out(ledger.generations.cancel(name, generation), who.workspace_id)


@router.post(
    "/{name}/switch", response_model=GenerationOut, summary="Switch a caught-up generation in"
)
def switch(name: str, body: SwitchIn, ledger: LedgerDep, who: Admin) -> GenerationOut:
    _check_own_rules(ledger, ledger.generations.get(rebuildable(name).name, body.generation), who)
    return generation_out(ledger.generations.switch(name, body.generation), who.workspace_id)


class OtherWorkspacesRules(DomainError):
    code = "other_workspaces_rules"
    http_status = 403


def _check_own_rules(ledger: Ledger, target: Generation, who: Caller) -> None:
    """The read models serve every workspace: an admin key may put in, or stop, only a
    generation that differs from the live one in its own workspace's rules. The `ledger`
    CLI, which works on the database itself, is the operator's way to act on all of them."""
    live = ledger.generations.live(target.projection).rules_versions
    ours = who.workspace_id
    others = {ws for ws in (*target.rules_versions, *live) if ws != ours}
    changed = sorted(ws for ws in others if target.rules_versions.get(ws) != live.get(ws))
    if changed:
        raise OtherWorkspacesRules(
            f"generation {target.generation} of {target.projection} is built under other"
            f" workspaces' rules ({', '.join(changed)}) than the live one: not this"
            " workspace's to change (an operator can, with `ledger projections` or"
            " `ledger rebuild`)",
            field="generation",
        )


@router.get("/parked", response_model=list[ParkedEvent], summary="Events a read model refused")
def parked(
    ledger: LedgerDep,
    who: Admin,
    projection: Annotated[str | None, Query()] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> list[ParkedEvent]:
    """This workspace's open parked events, oldest first. A message that did not decode
    belongs to no workspace: operators see it with `ledger parked list`."""
    with ledger.pool.connection() as conn:
        rows = parked_events(conn, projection=projection, workspace=who.workspace_id, limit=limit)
    return rows


@router.post("/parked/retry", response_model=RetryOut, summary="Apply parked events again")
def retry(
    ledger: LedgerDep, who: Admin, projection: Annotated[str | None, Query()] = None
) -> RetryOut:
    """Apply this workspace's open parked events again (after a fix)."""
    engine = ProjectionEngine(ledger.pool, streaming_projections(ledger.store), ledger.store)
    applied, still = engine.retry_parked(projection, workspace=who.workspace_id)
    return RetryOut(applied=applied, still_parked=still)
