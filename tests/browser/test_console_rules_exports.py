"""The console's downloads (through fetch with the key, named by Content-Disposition) and the
Rules page: versions, one version's rules, a diff, a shadow rebuild and the what-if report."""

from __future__ import annotations

import csv
import io
import uuid

import pytest

from api.exports import SESSION_REPORT, header
from tests.browser.conftest import screenshot, sign_in
from tests.helpers import message, rules_body, wait_for

pytestmark = pytest.mark.stack


def _sessions(client, agent: str, count: int) -> list[str]:
    ids = []
    for number in range(count):
        started = client.start_session(agent_id=agent, contact={"name": f"Export {number}"})
        client.append(started["session_id"], message("Hello?"), message("Hi!", "ai"))
        ids.append(started["session_id"])
    for session_id in ids:
        client.wait_listed(session_id, message_count=2)
    return ids


def _read_download(download) -> str:
    path = download.path()
    assert path is not None
    with open(path, "rb") as handle:
        return handle.read().decode("utf-8-sig")


def test_exports_download_with_the_key_and_the_current_filters(page, client):
    agent = f"export-{uuid.uuid4().hex[:6]}"
    ids = _sessions(client, agent, 3)
    _sessions(client, f"other-{uuid.uuid4().hex[:6]}", 1)
    sign_in(page, client.stack.api_keys["viewer"], "viewer")
    page.goto(f"/console/#/sessions?agents={agent}")
    page.wait_for_function(
        "n => document.querySelectorAll('#sessions-table tbody tr[data-session-id]').length === n",
        arg=len(ids),
    )
    # A button only for routes the API documents.
    assert page.is_visible("#export-csv") and page.is_visible("#export-xlsx")
    screenshot(page, "20-sessions-exports")

    with page.expect_download() as info:
        page.click("#export-csv")
    download = info.value
    assert download.suggested_filename.startswith("sessions-")
    assert download.suggested_filename.endswith(".csv")
    rows = list(csv.reader(io.StringIO(_read_download(download))))
    assert rows[0] == header(SESSION_REPORT)
    # The list's filter holds in the file: this agent's sessions only.
    agent_column = rows[0].index("Agent IDN")
    assert [row[agent_column] for row in rows[1:]] == [agent] * len(ids)

    with page.expect_download() as info:
        page.click("#export-xlsx")
    assert info.value.suggested_filename.endswith(".xlsx")
    with open(info.value.path(), "rb") as handle:
        assert handle.read(2) == b"PK"  # a zip: the workbook

    # One session: its transcript, and its agent's sessions as JSON.
    page.goto(f"/console/#/session/{ids[0]}")
    page.wait_for_selector(".transcript .msg")
    with page.expect_download() as info:
        page.click("#export-transcript")
    assert info.value.suggested_filename == f"session-{ids[0]}-transcript.txt"
    assert "Hello?" in _read_download(info.value)
    with page.expect_download() as info:
        page.click("#export-agent-json")
    assert info.value.suggested_filename == f"agent-{agent}-sessions.json"

    # Audit and missed questions have their CSV buttons too.
    page.click("#nav a[data-page=audit]")
    page.wait_for_selector("#audit-table tbody tr")
    assert page.is_visible("#export-csv")
    page.click("#nav a[data-page=missed]")
    page.wait_for_selector("#missed-table tbody tr")
    with page.expect_download() as info:
        page.click("#export-csv-semicolon")
    assert info.value.suggested_filename.startswith("missed-questions-")
    assert _read_download(info.value).splitlines()[0].startswith("Question;Agent;Status")


def test_rules_page_shows_versions_a_diff_and_a_shadow_rebuild(page, client):
    for ratio, opens, reason in ((0.5, "09:00", "first rules"), (0.8, "13:00", "afternoons only")):
        body = {"rules": rules_body(ratio, opens), "reason": reason}
        response = client.post("/v1/rules", json=body)
        assert response.status_code == 201, response.text
    latest = response.json()["version"]
    assert latest >= 2
    _sessions(client, f"rules-{uuid.uuid4().hex[:6]}", 2)

    # A viewer sees everything, but the admin actions are disabled with the reason.
    sign_in(page, client.stack.api_keys["viewer"], "viewer")
    page.click("#nav a[data-page=rules]")
    page.wait_for_selector(f"#versions-table tbody tr[data-version='{latest}']")
    page.wait_for_selector("#rule-detail .rule-section")
    assert page.is_disabled("#rebuild-button")
    assert "admin" in page.inner_text("section[data-page=rules] .disabled-reason")
    page.click("#sign-out")

    sign_in(page, client.stack.api_keys["admin"], "admin")
    page.goto("/console/#/rules")
    versions = page.wait_for_selector("#versions-table")
    shown = page.eval_on_selector_all(
        "#versions-table tbody tr", "rows => rows.map(r => Number(r.dataset.version))"
    )
    assert shown == list(range(latest, -1, -1))
    assert "afternoons only" in versions.inner_text()

    # The latest version's rules as sections, not only raw JSON.
    page.wait_for_selector(f"#rule-detail h2:text-is('Version {latest}')")
    defaults = page.inner_text("#rule-detail .rule-section[data-section=defaults]")
    assert "Conversion ratio" in defaults and "0.8" in defaults and "13:00–17:00" in defaults

    # The diff between the two published versions: the changed fields, before -> after.
    page.select_option("#diff-from", str(latest - 1))
    page.select_option("#diff-to", str(latest))
    row = page.wait_for_selector("#diff-table tbody tr[data-field*='conversion_ratio']")
    assert "0.5" in row.inner_text() and "0.8" in row.inner_text()
    expected = client.get("/v1/rules/diff", params={"from": latest - 1, "to": latest}).json()
    assert len(page.query_selector_all("#diff-table tbody tr")) == len(expected["changes"])

    # Clicking an older version shows it.
    page.click(f"#versions-table tbody tr[data-version='{latest - 1}']")
    page.wait_for_selector(f"#rule-detail h2:text-is('Version {latest - 1}')")
    page.click(f"#versions-table tbody tr[data-version='{latest}']")
    page.wait_for_selector(f"#rule-detail h2:text-is('Version {latest}')")

    # Every rebuildable read model can be picked; session_list (with ASR) is the default.
    models = page.eval_on_selector_all("#rebuild-model option", "os => os.map(o => o.value)")
    assert models == ["session_list", "missed_questions", "leads", "audit_trail"]
    assert page.input_value("#rebuild-model") == "session_list"
    # Rebuild under the latest version as a shadow; the progress refreshes until caught up.
    page.click("#rebuild-button")
    page.wait_for_selector("#rule-detail .notice.ok")
    page.wait_for_selector("#generations-table progress.rebuild")
    page.wait_for_selector(
        "#generations-table tr[data-status=shadow] button[data-action=switch]", timeout=60_000
    )
    wait_for(
        lambda: any(
            g["status"] == "shadow" and g["rules_version"] == latest
            for g in client.get("/v1/projections").json()["generations"]
        ),
        what="the shadow generation",
    )
    # What-if: the live generation (v0) against the shadow.
    page.select_option("#diff-from", "0")
    page.wait_for_selector("#report-table tbody tr[data-agent]", timeout=20_000)
    screenshot(page, "21-rules")
