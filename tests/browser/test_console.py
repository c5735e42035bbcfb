"""The console in a real browser: sign-in and roles, the STAR sessions filtered, one session's
transcript against the ledger, an assessment override seen on the audit page, a session
appearing live while it is ingested, and user content that stays text (XSS)."""

from __future__ import annotations

import re
import uuid
from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest

from tests.browser.conftest import screenshot, sign_in
from tests.helpers import closed, message, wait_for

pytestmark = pytest.mark.stack

CUSTOMER_VISIBLE = {"customer", "ai", "human_agent"}
XSS = '<script>window.__xss=1</script><img src=x onerror="window.__xss=2">'


def test_console_is_served_with_a_strict_policy(client):
    root = client.get("/", follow_redirects=False)
    assert root.status_code in (302, 307) and root.headers["location"] == "/console/"
    index = client.get("/console/")
    assert index.status_code == 200 and "js/main.js" in index.text
    policy = index.headers["content-security-policy"]
    assert "script-src 'self'" in policy and "unsafe-inline" not in policy
    assert (
        client.get("/console/js/markdown.js")
        .headers["content-type"]
        .startswith(("text/javascript", "application/javascript"))
    )


def test_sign_in_decides_what_a_key_may_do(page, client, star_sessions):
    page.goto("/")
    page.fill("#api-key", "ledger_nope_nope")
    page.click("#sign-in")
    page.wait_for_selector(".signin .notice.error")
    assert "unknown or revoked" in page.inner_text(".signin .notice.error")
    screenshot(page, "01-sign-in")

    sign_in(page, client.stack.api_keys["viewer"], "viewer")
    # The key lives in this tab's sessionStorage only: never localStorage or a cookie.
    stored = page.evaluate("() => [sessionStorage.length, localStorage.length, document.cookie]")
    assert stored == [2, 0, ""]
    page.goto(f"/console/#/session/{star_sessions[0]['session_id']}")
    page.wait_for_selector(".transcript .msg")
    reason = page.inner_text(".disabled-reason")
    assert "reviewer or admin" in reason and "viewer" in reason
    assert page.is_disabled("form[data-action=assessment] button[type=submit]")

    page.click("#sign-out")
    sign_in(page, client.stack.api_keys["reviewer"], "reviewer")
    page.goto(f"/console/#/session/{star_sessions[0]['session_id']}")
    page.wait_for_selector(".transcript .msg")
    assert page.query_selector(".disabled-reason") is None
    assert page.is_enabled("form[data-action=assessment] button[type=submit]")


def test_filter_the_star_sessions(page, client, star_sessions):
    agent, _ = Counter(r["agent_id"] for r in star_sessions).most_common(1)[0]
    sign_in(page, client.stack.api_keys["admin"], "admin")
    page.wait_for_selector("#sessions-table tbody tr[data-session-id]")
    assert "active" not in (page.get_attribute("#filters-button", "class") or "")
    screenshot(page, "02-sessions")

    page.click("#filters-button")
    page.fill("#f-agents", agent)
    page.select_option("#f-has_customer_responses", "true")
    screenshot(page, "03-sessions-filter-dialog")
    page.click("#filters-apply")
    page.wait_for_function(
        "agent => [...document.querySelectorAll('#sessions-table tbody tr[data-session-id]')]"
        ".every(tr => tr.querySelector('td[data-col=agent]').textContent.trim() === agent)",
        arg=agent,
    )
    expected = client.get(
        "/v1/sessions", params={"agents": agent, "has_customer_responses": True, "limit": 500}
    ).json()["items"]
    shown = page.eval_on_selector_all(
        "#sessions-table tbody tr[data-session-id]", "rows => rows.map(r => r.dataset.sessionId)"
    )
    assert shown == [r["session_id"] for r in expected][: len(shown)] and shown
    assert "active" in page.get_attribute("#filters-button", "class")
    assert page.inner_text("#filters-button") == "Filters (2)"
    assert "agents=" in page.evaluate("location.hash")
    screenshot(page, "04-sessions-filtered")

    # Sort by last message, then Reset brings every session back.
    page.select_option("#sort", "last_message_at")
    page.wait_for_function("location.hash.includes('sort=last_message_at')")
    page.click("#filters-button")
    page.click("#filters-reset")
    page.wait_for_function(
        "n => document.querySelectorAll('#sessions-table tbody tr[data-session-id]').length >= n",
        arg=min(len(star_sessions), 50),
    )
    assert "active" not in page.get_attribute("#filters-button", "class")

    # The column chooser hides a column, and the choice survives a reload of the page.
    page.click("#columns-button")
    page.uncheck("#columns-dialog input[data-column=location]")
    page.click("#columns-apply")
    assert page.query_selector("#sessions-table th[data-col=location]") is None
    page.reload()
    page.wait_for_selector("#sessions-table tbody tr[data-session-id]")
    assert page.query_selector("#sessions-table th[data-col=location]") is None

    # Filters the API refuses: the refusal shows, and the empty table does not claim that
    # no session matched.
    page.goto("/console/#/sessions?started_from=2026-03-02T00:00&started_to=2026-03-01T00:00")
    page.wait_for_selector(".notice.error:has-text('started_to')")
    assert "refused" in page.inner_text("#sessions-table td.empty")


def transcript_in_ledger(client, session_id: str) -> list[tuple[str, str, str]]:
    events = client.get(f"/v1/sessions/{session_id}/history").json()["events"]
    return [
        (e["payload"]["message_id"], e["payload"]["author_role"], e["payload"]["text"])
        for e in events
        if e["type"] == "session.message_recorded"
    ]


def normalise(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip()


def test_the_handover_steps_offered_follow_the_sessions_state(page, client, star_sessions):
    started = client.start_session(agent_id="handover-agent", channel="web")
    session_id = started["session_id"]
    client.append(session_id, message("I want a person"))
    sign_in(page, client.stack.api_keys["reviewer"], "reviewer")

    def offered() -> dict[str, str | None]:
        """Each handover step: None when it may be taken, else the reason shown."""
        page.wait_for_selector("form[data-action=resolve]")
        steps = {}
        for step in ("handover", "assign", "resolve"):
            form = f"form[data-action={step}]"
            enabled = page.is_enabled(f"{form} button[type=submit]")
            steps[step] = None if enabled else page.inner_text(f"{form} .refused")
        return steps

    page.goto(f"/console/#/session/{session_id}")
    assert offered() == {
        "handover": None,
        "assign": "No open handover to assign a human agent to.",
        "resolve": "No human agent is assigned who could resolve it.",
    }
    page.click("form[data-action=handover] button[type=submit]")
    page.wait_for_selector("form[data-action=handover] .refused")
    assert offered() == {
        "handover": "Already handed over, and not resolved.",
        "assign": None,
        "resolve": "No human agent is assigned who could resolve it.",
    }
    page.fill("form[data-action=assign] input[name=agent_id]", "op-7")
    page.click("form[data-action=assign] button[type=submit]")
    page.wait_for_selector("form[data-action=resolve] button[type=submit]:enabled")
    assert offered()["resolve"] is None

    assert client.append(session_id, closed()).status_code == 201
    page.reload()
    page.wait_for_selector("form[data-action=resolve] .refused")
    assert set(offered().values()) == {"The session is closed."}
    # A reviewer's own judgements stay open on a closed session.
    assert page.is_enabled("form[data-action=assessment] button[type=submit]")


def test_one_session_shows_the_ledger_transcript(page, client, star_sessions):
    chosen = max(star_sessions, key=lambda r: r["message_count"])
    session_id = chosen["session_id"]
    sign_in(page, client.stack.api_keys["admin"], "admin")
    page.wait_for_selector(f"tr[data-session-id='{session_id}']").click()
    page.wait_for_selector(".transcript .msg")
    assert page.evaluate("location.hash") == f"#/session/{session_id}"

    shown = page.eval_on_selector_all(
        ".main-col .transcript .msg",
        "els => els.map(e => [e.dataset.messageId, e.dataset.role,"
        " e.querySelector('.msg-text').innerText])",
    )
    ledger = transcript_in_ledger(client, session_id)
    assert [(m, r) for m, r, _ in shown] == [(m, r) for m, r, _ in ledger]
    for (_, _, seen), (_, _, stored) in zip(shown, ledger, strict=True):
        assert normalise(seen) == normalise(stored.replace("**", "").replace("`", ""))
    # AI messages carry their decision trace beside them; system markers frame the session.
    ai_messages = page.query_selector_all(".main-col .msg[data-role=ai]")
    assert ai_messages and all(m.query_selector(".trace") for m in ai_messages)
    assert page.query_selector(".marker[data-marker=started]")
    assert page.inner_text("section[data-panel='parameters and results']")
    screenshot(page, "05-session")

    # History: the raw events, and the session as it was at version 3.
    page.click("button[data-tab=history]")
    page.wait_for_selector("#history-table tbody tr")
    versions = client.get(f"/v1/sessions/{session_id}/history").json()["events"]
    assert len(page.query_selector_all("#history-table tbody tr")) == len(versions)
    page.eval_on_selector(
        "#version-slider",
        "el => { el.value = 3; el.dispatchEvent(new Event('input', {bubbles: true})); }",
    )
    page.wait_for_selector(".as-of h4:text-is('As it was at version 3')")
    early = [e for e in versions[:3] if e["type"] == "session.message_recorded"]
    assert len(page.query_selector_all(".as-of .msg")) == len(early)
    screenshot(page, "06-session-history")


def test_assessment_override_shows_on_the_audit_page(page, client, star_sessions):
    chosen = star_sessions[1]
    session_id = chosen["session_id"]
    new = "Yes-A" if chosen["effective_assessment"] != "Yes-A" else "No"
    reason = f"reviewed in the console {uuid.uuid4().hex[:6]}"
    sign_in(page, client.stack.api_keys["reviewer"], "reviewer")
    page.goto(f"/console/#/session/{session_id}")
    page.wait_for_selector("form[data-action=assessment]")
    page.select_option("form[data-action=assessment] select[name=assessment]", new)
    page.fill("form[data-action=assessment] input[name=reason]", reason)
    page.click("form[data-action=assessment] button[type=submit]")
    page.wait_for_selector(f"section[data-panel=assessment] :text('{reason}')")

    wait_for(
        lambda: client.get("/v1/audit", params={"session": session_id}).json()["items"],
        what="the override in the audit trail",
    )
    page.click("#nav a[data-page=audit]")
    page.wait_for_selector("#audit-table tbody tr[data-event-id]")
    page.fill("input[data-filter=session]", session_id)
    page.press("input[data-filter=session]", "Tab")
    row = page.wait_for_selector(f"#audit-table tbody tr:has-text('{reason}')")
    text = row.inner_text()
    assert new in text and "test reviewer" in text
    # The first human assessment overrides the AI's, not a reviewer's.
    assert row.query_selector(".before").inner_text() == "not set by a reviewer"
    screenshot(page, "07-audit")


def test_a_session_appears_live_while_it_is_ingested(page, client, star_sessions):
    sign_in(page, client.stack.api_keys["viewer"], "viewer")
    page.wait_for_selector("#sessions-table tbody tr[data-session-id]")
    page.wait_for_selector(".live-state[data-state=open]")
    name = f"Live Visitor {uuid.uuid4().hex[:6]}"
    started = client.start_session(agent_id="live-agent", contact={"name": name})
    row = page.wait_for_selector(f"tr[data-session-id='{started['session_id']}']", timeout=20_000)
    assert name in row.inner_text()
    assert row.query_selector(".live-dot.on")
    client.append(started["session_id"], message("Is anyone there?"), message("Yes!", "ai"))
    page.wait_for_function(
        "id => document.querySelector(`tr[data-session-id='${id}'] td[data-col=messages]`)"
        "?.textContent.trim() === '2'",
        arg=started["session_id"],
        timeout=20_000,
    )
    screenshot(page, "08-sessions-live")


def test_user_content_renders_as_text(page, client, star_sessions):
    started = client.start_session(agent_id="xss-agent", contact={"name": XSS})
    session_id = started["session_id"]
    client.append(
        session_id,
        message(XSS),
        message("**bold** and [a link](javascript:alert(1)) and [ok](https://example.com)", "ai"),
        {
            "type": "session.message_recorded",
            "payload": {"message_id": "draft1", "author_role": "copilot_draft", "text": XSS},
        },
    )
    client.wait_listed(session_id, message_count=2)
    sign_in(page, client.stack.api_keys["admin"], "admin")
    page.goto(f"/console/#/session/{session_id}")
    page.wait_for_selector(".main-col .msg[data-role=customer]")
    customer = page.inner_text(".main-col .msg[data-role=customer] .msg-text")
    assert customer.strip() == XSS
    assert page.evaluate("typeof window.__xss") == "undefined"
    assert page.query_selector(".transcript img, .transcript script") is None
    ai = page.query_selector(".main-col .msg[data-role=ai] .msg-text")
    assert ai.query_selector("strong").inner_text() == "bold"
    hrefs = ai.eval_on_selector_all("a", "links => links.map(a => a.getAttribute('href'))")
    assert hrefs == ["https://example.com"]
    draft = page.query_selector(".main-col .msg[data-role=copilot_draft]")
    assert "unsent" in draft.get_attribute("class") and "not sent" in draft.inner_text()
    # The contact name (the page header and the panel) is text too.
    assert XSS in page.inner_text("section[data-panel=contact]")
    screenshot(page, "09-xss-as-text")
    page.goto("/console/#/sessions")
    page.wait_for_selector(f"tr[data-session-id='{session_id}']")
    assert page.evaluate("typeof window.__xss") == "undefined"


def test_the_other_pages(page, client, star_sessions):
    started = client.start_session(agent_id="faq-agent")
    question = message("Do you have *vegan* pizza?")
    question["payload"]["message_id"] = "q1"
    client.append(started["session_id"], question)
    reported = client.post(
        "/v1/missed-questions",
        json={"session_id": started["session_id"], "message_id": "q1", "question": "Vegan pizza?"},
    )
    assert reported.status_code == 201, reported.text
    wait_for(
        lambda: client.get("/v1/missed-questions", params={"agent": "faq-agent"}).json()["items"],
        what="the missed question grouped",
    )
    sign_in(page, client.stack.api_keys["admin"], "admin")
    page.click("#nav a[data-page=missed]")
    page.wait_for_selector("#missed-table tbody tr[data-group-id]")
    screenshot(page, "10-missed-questions")
    page.click("#missed-table tbody tr:has-text('Vegan pizza?')")
    page.wait_for_selector(".detail h1:text-is('Vegan pizza?')")
    page.wait_for_selector(f".detail a[href*='{started['session_id']}']")
    screenshot(page, "11-missed-question-detail")
    page.click(f".detail a[href*='{started['session_id']}']")
    page.wait_for_selector(".main-col .msg.missed.highlight")

    page.click("#nav a[data-page=leads]")
    page.wait_for_selector("#leads-table tbody")
    screenshot(page, "12-leads")
    lead = page.query_selector("#leads-table tbody tr[data-lead-id]")
    if lead:
        lead.click()
        page.wait_for_selector("#lead-sessions")
        screenshot(page, "13-lead-360")

    page.click("#nav a[data-page=metrics]")
    page.wait_for_selector("svg.chart, .metrics p.muted")
    screenshot(page, "14-metrics")
    # Three days around today (in any agent's time zone) cut the week that holds them.
    today = datetime.now(UTC).date()
    page.select_option("select[data-filter=period]", "week")
    page.fill("input[data-filter=from]", str(today - timedelta(days=1)))
    page.fill("input[data-filter=to]", str(today + timedelta(days=1)))
    page.wait_for_selector("#metrics-table td:has-text('(only ')")

    page.click("#nav a[data-page=rules]")
    page.wait_for_selector("section[data-page=rules] .panel, .not-available")
    screenshot(page, "15-rules")
