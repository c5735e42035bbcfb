"""What a request needs: the process-wide ``Ledger`` and the authenticated ``Caller``.

Every route states the role it needs with ``Depends(require(Role.X))``; ``require`` resolves
the caller (workspace, actor, permissions) from the request's API key (``api.auth``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated

from fastapi import Depends, FastAPI, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.security import HTTPBearer

from api.auth import ApiKey, ApiKeys, CachedKeys, Role, RoleNotGranted, Unauthenticated
from api.commands import Caller, SessionCommands, StreamCommands
from api.consistency import ReadModelProgress, Window
from api.queries import SessionQueries
from infra.database import create_pool
from infra.event_store import EventStore
from infra.settings import Settings
from projections.generations import REBUILDABLE, Generations, live_generation
from projections.rebuild import BackgroundRebuilds
from projections.registry import all_projections, apply_read_model_schema

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
        apply_read_model_schema(database_url)
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


class KeyAuth(HTTPBearer):
    """The request's API key, authenticated: ``Authorization: Bearer <key>`` or ``X-API-Key``.

    One dependency reading both headers itself. As five (a scheme per header, the lookup, the
    role check, each a dependency of the next), FastAPI's resolving them cost ~85 µs per
    request (a trivial route with the same five: 4,186-4,339 requests/s; with one: 6,481-6,683),
    a tenth of a single-event append. Still FastAPI's ``HTTPBearer``, so the OpenAPI
    document shows how to authenticate.

    A recently verified key comes from the cache without leaving the event loop; any other
    is looked up in the thread pool (a database round trip)."""

    def __init__(self) -> None:
        super().__init__(
            auto_error=False,
            scheme_name="HTTPBearer",
            description="`Authorization: Bearer <API key>`; or the key alone in `X-API-Key`.",
        )

    async def __call__(self, request: Request) -> ApiKey:  # type: ignore[override]
        presented = presented_key(request.headers)
        if not presented:
            raise Unauthenticated("an API key is required: Authorization: Bearer <key>")
        key = await active_key(request.app.state.ledger.keys, presented)
        if key is None:
            raise Unauthenticated("the API key is unknown or revoked")
        return key


class RoleAuth(KeyAuth):
    """The caller of the request, whose key must grant ``role``."""

    def __init__(self, role: Role) -> None:
        super().__init__()
        self.role = role

    async def __call__(self, request: Request) -> Caller:  # type: ignore[override]
        key = await super().__call__(request)
        if not key.grants(self.role):
            raise RoleNotGranted(f"this needs the {self.role} role; the key's role is {key.role}")
        return key.caller()


def presented_key(headers: Mapping[str, str]) -> str | None:
    """The key a request presents: a bearer token (as FastAPI's ``HTTPBearer`` reads it) or
    ``X-API-Key``. Two different keys are refused rather than one chosen: the request would
    act as whichever the server preferred, unknown to the client that sent both."""
    scheme, _, credentials = headers.get("authorization", "").partition(" ")
    bearer = credentials.strip() if scheme.lower() == "bearer" else ""
    header = headers.get("x-api-key", "")
    if bearer and header and header != bearer:
        raise Unauthenticated(
            "two different API keys: send one, as Authorization: Bearer <key> or X-API-Key",
            field="X-API-Key",
        )
    return bearer or header or None


async def active_key(keys: CachedKeys, presented: str) -> ApiKey | None:
    """The active key ``presented`` is, or None: a recently verified key from the cache
    without leaving the event loop, any other looked up in the thread pool."""
    return keys.cached(presented) or await run_in_threadpool(keys.authenticate, presented)


def require(role: Role) -> RoleAuth:
    """Dependency: the caller of this request, whose key must grant ``role``."""
    return RoleAuth(role)


authenticate = KeyAuth()

KEY_HEADER_SCHEME = {
    "type": "apiKey",
    "in": "header",
    "name": "X-API-Key",
    "description": "The API key.",
}


def document_key_header(app: FastAPI) -> None:
    """``X-API-Key`` beside the bearer scheme in the OpenAPI document, as the alternative it
    is on every route that takes a key: ``KeyAuth`` reads both headers in one dependency,
    which FastAPI documents as its ``HTTPBearer`` alone."""
    build = app.openapi

    def openapi() -> dict:
        if app.openapi_schema is None:
            schema = build()
            schema["components"]["securitySchemes"]["APIKeyHeader"] = KEY_HEADER_SCHEME
            for operation in (op for path in schema["paths"].values() for op in path.values()):
                if {"HTTPBearer": []} in operation.get("security", []):
                    operation["security"].append({"APIKeyHeader": []})
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


Ingest = Annotated[Caller, Depends(require(Role.ingest))]
Viewer = Annotated[Caller, Depends(require(Role.viewer))]
Reviewer = Annotated[Caller, Depends(require(Role.reviewer))]
Admin = Annotated[Caller, Depends(require(Role.admin))]
