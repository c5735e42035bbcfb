"""What a request needs: the process-wide ``Ledger`` and the authenticated ``Caller``.

Every route states the role it needs with ``Depends(require(Role.X))``; ``require`` resolves
the caller (workspace, actor, permissions) from the request's API key (``api.auth``).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer

from api.auth import ApiKey, ApiKeys, CachedKeys, Role, RoleNotGranted, Unauthenticated
from api.commands import Caller, SessionCommands, StreamCommands
from api.consistency import ReadModelProgress, Window
from api.queries import SessionQueries
from infra.database import apply_schema, create_pool
from infra.event_store import EventStore
from infra.settings import Settings
from projections.generations import REBUILDABLE, Generations, live_generation
from projections.rebuild import BackgroundRebuilds
from projections.registry import all_projections, read_model_schema

__all__ = ["Admin", "Ingest", "Ledger", "LedgerDep", "Reviewer", "Role", "Viewer", "require"]


class GenerationProgress(ReadModelProgress):
    """Read-your-writes against the live generation's bookkeeping: ``session_list`` means
    whichever generation is live when the check runs.

    The per-process watermark carries over a switch: a generation is switched in only after
    it applied every event up to a head at or past anything verified before.
    """

    def window(self, projection: str, *, after: int, upto: int, stream_id=None) -> Window:
        if projection in REBUILDABLE:
            with self.pool.connection() as conn:
                projection = live_generation(conn, projection).key
        return super().window(projection, after=after, upto=upto, stream_id=stream_id)


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
        self.streams = StreamCommands(self.store, max_retries=settings.max_append_retries)
        self.queries = SessionQueries(self.pool, source=self.store)
        self.keys = CachedKeys(ApiKeys(self.pool), database_url)
        self.progress = GenerationProgress(self.pool, [p.name for p in all_projections()])
        self.generations = Generations(self.pool)
        self.rebuilds = BackgroundRebuilds(self.pool, self.store)

    def close(self) -> None:
        self.keys.close()
        self.rebuilds.close()
        self.pool.close()
        self.store.close()


async def get_ledger(request: Request) -> Ledger:
    # async: FastAPI runs a sync dependency in its thread pool, a hop per request for nothing.
    return request.app.state.ledger


LedgerDep = Annotated[Ledger, Depends(get_ledger)]


# Declared as security schemes so the OpenAPI document shows how to authenticate.
bearer_key = HTTPBearer(auto_error=False, description="`Authorization: Bearer <API key>`")
header_key = APIKeyHeader(name="X-API-Key", auto_error=False, description="The API key.")


async def authenticate(
    request: Request,
    bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer_key)],
    header: Annotated[str | None, Depends(header_key)],
) -> ApiKey:
    """The request's key: a recently verified one from the cache, without leaving the event
    loop; otherwise looked up in the thread pool (a database round trip)."""
    presented = bearer.credentials if bearer else header
    if not presented:
        raise Unauthenticated("an API key is required: Authorization: Bearer <key>")
    keys = request.app.state.ledger.keys
    key = keys.cached(presented) or await run_in_threadpool(keys.authenticate, presented)
    if key is None:
        raise Unauthenticated("the API key is unknown or revoked")
    return key


def require(role: Role):
    """Dependency: the caller of this request, whose key must grant ``role``."""

    async def caller(key: Annotated[ApiKey, Depends(authenticate)]) -> Caller:
        if not key.grants(role):
            raise RoleNotGranted(f"this needs the {role} role; the key's role is {key.role}")
        return key.caller()

    return caller


Ingest = Annotated[Caller, Depends(require(Role.ingest))]
Viewer = Annotated[Caller, Depends(require(Role.viewer))]
Reviewer = Annotated[Caller, Depends(require(Role.reviewer))]
Admin = Annotated[Caller, Depends(require(Role.admin))]
