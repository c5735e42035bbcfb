"""Browser tests of the console: Playwright for Python driving the machine's Chromium.

No browser is downloaded (``playwright install`` is never run): the tests use the Debian
``chromium`` package (``.ci/run`` installs it). Where it is missing they are skipped with a
message, except in CI (``CI`` set), where a missing browser is a failure.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from api.commands import SessionCommands
from api.importers.run import import_star
from infra.event_store import EventStore
from tests.helpers import StackClient
from tests.unit.test_star_mapping import STAR_FILE

PROJECT_ROOT = Path(__file__).resolve().parents[2]
SCREENSHOTS = PROJECT_ROOT / "test-artifacts" / "screenshots"
CHROMIUM_CANDIDATES = ("/usr/bin/chromium", "/usr/bin/chromium-browser")
CHROMIUM_ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
STAR_SESSIONS = 60  # STAR dialogues imported into the test stack's workspace


def _unavailable(reason: str):
    if os.environ.get("CI"):
        pytest.fail(f"{reason} — browser tests must not be skipped in CI", pytrace=False)
    pytest.skip(reason)


def chromium_path() -> str | None:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    return found or next((p for p in CHROMIUM_CANDIDATES if Path(p).is_file()), None)


@pytest.fixture(scope="module")
def browser() -> Iterator:
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _unavailable("playwright is not installed (pip install -e '.[dev]')")
    executable = chromium_path()
    if executable is None:
        _unavailable("no Chromium on this machine: apt-get install chromium")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        yield launched
        launched.close()


@pytest.fixture
def page(browser, stack) -> Iterator:
    context = browser.new_context(
        viewport={"width": 1440, "height": 900}, base_url=stack.endpoints.api_url
    )
    context.set_default_timeout(15_000)
    opened = context.new_page()
    errors: list[str] = []
    opened.on("pageerror", lambda error: errors.append(str(error)))
    opened.page_errors = errors
    yield opened
    context.close()
    assert not errors, f"JavaScript errors on the page: {errors}"


def screenshot(page, name: str) -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


def sign_in(page, key: str, role: str) -> None:
    page.goto("/")
    page.fill("#api-key", key)
    page.click("#sign-in")
    page.wait_for_selector(f".role-badge[data-role='{role}']")


@pytest.fixture(scope="module")
def star_sessions(stack) -> list[dict]:
    """The first STAR dialogues imported into the stack's workspace (as ``ledger up`` does on
    a fresh workspace), or, where the data set is not here, a few sessions of that shape.
    Returns their session-list rows once every one of them is projected."""
    with StackClient(stack) as client:
        if STAR_FILE is not None and STAR_FILE.is_file():
            store = EventStore(stack.endpoints.database_url, pool_size=2)
            try:
                import_star(
                    SessionCommands(store),
                    STAR_FILE,
                    workspace=stack.settings.workspace,
                    limit=STAR_SESSIONS,
                    workers=2,
                )
                head = store.max_position()
            finally:
                store.close()
        else:
            head = 0
            for number in range(12):
                started = client.start_session(
                    agent_id=f"star-{('hotel', 'bank', 'ride')[number % 3]}",
                    contact={"name": f"Guest {number}"},
                )
                appended = client.append(
                    started["session_id"],
                    _message("m0", "customer", "Hi, I need a room."),
                    _message("m1", "ai", "Sure: for **how many** nights?", action="ask_nights"),
                )
                head = appended.json()["position"]
        # Read your writes: the list answers once everything up to the head is projected.
        response = client.get(
            "/v1/sessions", params={"limit": 500, "min_position": head, "wait": 30}
        )
        assert response.status_code == 200, response.text
        rows = [r for r in response.json()["items"] if (r["agent_id"] or "").startswith("star-")]
        assert rows, "no STAR sessions listed"
        return rows


def _message(message_id: str, role: str, text: str, action: str | None = None) -> dict:
    payload = {"message_id": message_id, "author_role": role, "text": text}
    if action:
        payload["decision_trace"] = {"action": action}
    return {"type": "session.message_recorded", "payload": payload}
