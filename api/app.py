"""The HTTP API (FastAPI): commands go through ``SessionCommands``, queries read read models."""

from __future__ import annotations

from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.responses import ORJSONResponse

from api.deps import Ledger
from api.errors import install_error_handlers
from api.routes import ingest, operations, sessions
from infra.settings import Settings

ROUTERS = (operations.router, ingest.router, sessions.router)


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
        default_response_class=ORJSONResponse,
    )
    install_error_handlers(app)
    for router in ROUTERS:
        app.include_router(router)
    return app
