"""The HTTP API (FastAPI): commands go through ``SessionCommands``, queries read read models."""

from __future__ import annotations

from contextlib import asynccontextmanager

from fastapi import FastAPI

from api.console import mount_console
from api.deps import Ledger, document_key_header
from api.errors import install_error_handlers
from api.limits import RequestGuard
from api.responses import OrjsonResponse
from api.routes import (
    audit,
    exports,
    ingest,
    leads,
    live,
    metrics,
    missed_questions,
    operations,
    projections,
    replay,
    review,
    rules,
    sessions,
    whoami,
)
from infra.settings import Settings

# live before sessions: /v1/sessions/stream would otherwise match /v1/sessions/{session_id}.
ROUTERS = (
    operations.router,
    whoami.router,
    ingest.router,
    live.router,
    sessions.router,
    replay.router,
    review.router,
    missed_questions.router,
    leads.router,
    audit.router,
    exports.router,
    metrics.router,
    projections.router,
    rules.router,
)


def create_app(settings: Settings, database_url: str) -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI):
        app.state.ledger = Ledger(settings, database_url)
        try:
            yield
        finally:
            app.state.ledger.close()

    app = FastAPI(
        title="Conversation Ledger",
        version="0.1.0",
        summary="An event-sourced ledger of the conversations AI agents hold with people.",
        lifespan=lifespan,
        default_response_class=OrjsonResponse,
    )
    install_error_handlers(app)
    app.add_middleware(RequestGuard)
    for router in ROUTERS:
        app.include_router(router)
    mount_console(app)  # the Sessions console: static files under /console, / redirects
    document_key_header(app)
    return app
