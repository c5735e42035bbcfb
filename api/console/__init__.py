"""The Sessions console: static HTML, JavaScript modules and CSS served by the API process.

No build step: ``static/`` is shipped as package data and served as it is under
``/console``; ``/`` redirects there. The console talks to the same ``/v1`` API as any other
client, with the API key the user typed (kept in the tab's ``sessionStorage`` only).

Every console response carries a strict Content-Security-Policy (scripts and styles from this
origin only, no inline script, no plugins, no framing) as a second wall behind the console's
own rule of never putting user content into ``innerHTML``.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from fastapi.responses import RedirectResponse
from starlette.staticfiles import StaticFiles
from starlette.types import Receive, Scope, Send

STATIC_DIR = Path(__file__).resolve().parent / "static"
MOUNT_PATH = "/console"

CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "connect-src 'self'",
        "font-src 'self'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ]
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    # The files are small and change with the code: always revalidate (ETag makes it cheap).
    "Cache-Control": "no-cache",
}


class ConsoleFiles(StaticFiles):
    """StaticFiles with the console's security headers on every answer."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def send_with_headers(message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                present = {name.lower() for name, _ in headers}
                for name, value in SECURITY_HEADERS.items():
                    if name.lower().encode() not in present:
                        headers.append((name.lower().encode(), value.encode()))
                message = {**message, "headers": headers}
            await send(message)

        await super().__call__(scope, receive, send_with_headers)


def mount_console(app: FastAPI) -> None:
    """Serve the console under ``/console`` and redirect ``/`` to it."""

    @app.get("/", include_in_schema=False)
    def console_root() -> RedirectResponse:
        return RedirectResponse(f"{MOUNT_PATH}/", status_code=307)

    @app.get(MOUNT_PATH, include_in_schema=False)
    def console_slash() -> RedirectResponse:
        return RedirectResponse(f"{MOUNT_PATH}/", status_code=307)

    app.mount(MOUNT_PATH, ConsoleFiles(directory=STATIC_DIR, html=True), name="console")
