"""What a request needs: the process-wide ``Ledger`` and the authenticated ``Caller``.

Every route states the role it needs with ``Depends(require(Role.X))``; ``require`` resolves
the caller (workspace, actor, permissions) for the request.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

from fastapi import Depends, Request

from api.commands import Caller, SessionCommands
from api.queries import SessionQueries
from domain.envelope import Actor, ActorKind
from infra.database import apply_schema, create_pool
from infra.event_store import EventStore
from infra.settings import Settings
from projections.registry import read_model_schema


class Role(StrEnum):
    ingest = "ingest"
    viewer = "viewer"
    reviewer = "reviewer"
    admin = "admin"


class Ledger:
    """What requests share, built once per API process."""

    def __init__(self, settings: Settings, database_url: str) -> None:
        self.settings = settings
        self.database_url = database_url
        self.store = EventStore(database_url, pool_size=settings.db_pool_size)
        self.store.create_schema()
        apply_schema(database_url, read_model_schema())
        self.pool = create_pool(database_url, size=settings.db_pool_size, name="api-queries")
        self.commands = SessionCommands(self.store, max_retries=settings.max_append_retries)
        self.queries = SessionQueries(self.pool)

    def close(self) -> None:
        self.pool.close()
        self.store.close()


def get_ledger(request: Request) -> Ledger:
    return request.app.state.ledger


LedgerDep = Annotated[Ledger, Depends(get_ledger)]


def require(role: Role):
    """Dependency: the caller of this request, who must hold ``role``."""

    def caller(request: Request) -> Caller:
        # Until API keys exist every call acts in the configured workspace as the API itself.
        settings: Settings = request.app.state.ledger.settings
        return Caller(
            workspace_id=settings.workspace,
            actor=Actor(kind=ActorKind.system, id="api", name="HTTP API (unauthenticated)"),
        )

    return caller


Ingest = Annotated[Caller, Depends(require(Role.ingest))]
Viewer = Annotated[Caller, Depends(require(Role.viewer))]
Reviewer = Annotated[Caller, Depends(require(Role.reviewer))]
Admin = Annotated[Caller, Depends(require(Role.admin))]
