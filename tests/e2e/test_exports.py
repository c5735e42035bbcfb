"""Every export format through the real stack, parsed back and checked."""

from __future__ import annotations

import csv
import io
import re
import uuid
import zipfile
from xml.etree import ElementTree

import pytest

from tests.helpers import OTHER_WORKSPACE, message, wait_for

pytestmark = pytest.mark.stack

REPORT_COLUMNS = [
    "Date/Time",
    "Session Type",
    "Is Lead",
    "Is Opportunity",
    "Is Test",
    "Contact",
    "Contact Information",
    "External ID",
    "Summary",
    "Lead Value",
    "ASR",
    "Conversation Rate",
    "ASR Recognition",
    "Auto Assessment",
    "Human Assessment",
    "Conversation Quality",
    "Working Hours",
    "Comment",
    "Channel",
    "Actual Result",
    "Expected Result",
    "Agent IDN",
    "Units",
    "Integration",
]
BOM = b"\xef\xbb\xbf"
COMMENT = 'Größe, "quoted" — call back'


def _agent(kind: str) -> str:
    return f"export-{kind}-{uuid.uuid4().hex[:8]}"


def _csv(response, delimiter: str = ",") -> list[list[str]]:
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/csv")
    assert response.content.startswith(BOM)
    return list(csv.reader(io.StringIO(response.content.decode("utf-8-sig")), delimiter=delimiter))


def _attachment_name(response) -> str:
    disposition = response.headers["content-disposition"]
    return re.fullmatch(r'attachment; filename="([^"]+)"', disposition).group(1)


def _two_sessions(client, agent: str) -> int:
    """A web and an sms session of ``agent``, the sms one commented; the last event's position."""
    web = client.start_session(agent_id=agent, channel="web", contact={"name": "Wen"})
    sms = client.start_session(
        agent_id=agent,
        channel="sms",
        contact={"name": "Sam", "email": "sam@example.com", "phone": "+4930123"},
    )
    client.append(web["session_id"], message("hello from the web"))
    client.append(sms["session_id"], message("hello by sms"), message("hi Sam", role="ai"))
    commented = client.post(f"/v1/sessions/{sms['session_id']}/comments", json={"text": COMMENT})
    assert commented.status_code == 201, commented.text
    return commented.json()["position"]


def test_the_session_report_csv_has_the_columns_and_honours_the_filters(client):
    agent = _agent("csv")
    position = _two_sessions(client, agent)
    params = {"agents": agent, "min_position": position}

    filtered = client.get("/v1/exports/sessions.csv", params={**params, "channels": "sms"})
    header, *rows = _csv(filtered)
    assert header == REPORT_COLUMNS
    assert len(rows) == 1
    row = dict(zip(header, rows[0], strict=True))
    assert row["Channel"] == "sms" and row["Agent IDN"] == agent
    assert row["Contact"] == "Sam"
    assert row["Contact Information"] == "sam@example.com; +4930123"
    assert row["Comment"] == COMMENT
    assert row["Is Test"] == "FALSE"
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d", row["Date/Time"])
    assert re.fullmatch(r"sessions-\d{4}-\d\d-\d\d\.csv", _attachment_name(filtered))

    _, *every = _csv(client.get("/v1/exports/sessions.csv", params=params))
    assert sorted(r[header.index("Channel")] for r in every) == ["sms", "web"]
    # A list page's paging, sent along from the list, neither cuts the report nor fails it.
    paged = client.get("/v1/exports/sessions.csv", params={**params, "limit": 0, "cursor": "x"})
    assert paged.status_code == 200, paged.text
    assert _csv(paged)[1:] == every


def test_the_exports_of_the_list_take_its_filters_but_not_its_paging(client):
    paths = client.get("/openapi.json").json()["paths"]
    listed = {parameter["name"] for parameter in paths["/v1/sessions"]["get"]["parameters"]}
    for path in ("/v1/exports/sessions.csv", "/v1/exports/sessions.xlsx"):
        taken = {parameter["name"] for parameter in paths[path]["get"]["parameters"]}
        assert listed - taken == {"limit", "cursor"}, path


def test_an_invalid_filter_is_refused_before_the_download_starts(client):
    response = client.get(
        "/v1/exports/sessions.csv",
        params={"started_from": "2026-03-02T00:00", "started_to": "2026-03-01T00:00"},
    )
    assert response.status_code == 422
    assert response.json()["error"]["field"] == "started_to"


def _xlsx_rows(content: bytes) -> list[list[str | None]]:
    """The first sheet's cells as text: enough of SpreadsheetML to check an export."""
    main = "{http://schemas.openxmlformats.org/spreadsheetml/2006/main}"
    with zipfile.ZipFile(io.BytesIO(content)) as book:
        shared = []
        if "xl/sharedStrings.xml" in book.namelist():
            table = ElementTree.fromstring(book.read("xl/sharedStrings.xml"))
            shared = [item.findtext(f".//{main}t") for item in table]
        sheet = ElementTree.fromstring(book.read("xl/worksheets/sheet1.xml"))
    rows = []
    for row in sheet.iter(f"{main}row"):
        cells: dict[int, str | None] = {}
        for cell in row.iter(f"{main}c"):
            kind, value = cell.get("t"), cell.findtext(f"{main}v")
            if kind == "inlineStr":
                value = cell.findtext(f"{main}is/{main}t")
            elif kind == "s":
                value = shared[int(value)]
            cells[_column_index(cell.get("r"))] = value
        rows.append([cells.get(i) for i in range(max(cells) + 1)])
    return rows


def _column_index(reference: str) -> int:
    letters = re.match(r"[A-Z]+", reference).group(0)
    index = 0
    for letter in letters:
        index = index * 26 + ord(letter) - ord("A") + 1
    return index - 1


def test_the_session_list_as_xlsx(client):
    agent = _agent("xlsx")
    position = _two_sessions(client, agent)
    response = client.get(
        "/v1/exports/sessions.xlsx", params={"agents": agent, "min_position": position}
    )
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/vnd.openxmlformats")
    assert _attachment_name(response).endswith(".xlsx")
    header, *rows = _xlsx_rows(response.content)
    assert header == REPORT_COLUMNS
    by_channel = {row[header.index("Channel")]: row for row in rows}
    assert sorted(by_channel) == ["sms", "web"]
    sms = by_channel["sms"]
    assert sms[header.index("Comment")] == COMMENT
    assert sms[header.index("Is Test")] == "0"  # a boolean cell
    assert float(sms[header.index("Date/Time")]) > 45000  # a date: days since 1900


def test_one_agents_sessions_as_json_with_transcripts(client):
    agent = _agent("json")
    position = _two_sessions(client, agent)
    response = client.get(
        f"/v1/exports/agents/{agent}/sessions.json", params={"min_position": position}
    )
    assert response.status_code == 200, response.text
    assert _attachment_name(response) == f"agent-{agent}-sessions.json"
    sessions = {s["channel"]: s for s in response.json()}
    assert sorted(sessions) == ["sms", "web"]
    assert [m["text"] for m in sessions["sms"]["transcript"]] == ["hello by sms", "hi Sam"]
    assert [m["author_role"] for m in sessions["sms"]["transcript"]] == ["customer", "ai"]
    assert sessions["web"]["transcript"][0]["text"] == "hello from the web"
    assert sessions["sms"]["comments"][0]["text"] == COMMENT

    nobody = client.get("/v1/exports/agents/nobody-at-all/sessions.json")
    assert nobody.status_code == 200 and nobody.json() == []


def test_one_transcript_as_text(client):
    session_id = client.start_session(contact={"name": "Ada"})["session_id"]
    written = client.append(
        session_id,
        message("Is there a table\nfor four?"),
        message("Let me check.", role="ai"),
        message("VIP guest, be nice", role="private_note"),
        message("Yes, at 8pm.", role="copilot_draft"),
        message("Yes, we have one at 8pm.", role="human_agent"),
    )
    assert written.status_code in (200, 201), written.text
    response = client.get(f"/v1/exports/sessions/{session_id}/transcript.txt")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain")
    assert _attachment_name(response) == f"session-{session_id}-transcript.txt"
    text = response.text
    assert f"Session {session_id}" in text and "Contact: Ada" in text
    said = ["Is there a table", "Let me check.", "VIP guest", "Yes, at 8pm.", "Yes, we have one"]
    places = [text.index(words) for words in said]
    assert places == sorted(places)
    lines = {words: next(x for x in text.splitlines() if words in x) for words in said}
    assert re.match(r"\[\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\] Customer: Is there", lines[said[0]])
    assert "    for four?" in text  # a second line of a message stays with its message
    assert "AI agent:" in lines["Let me check."]
    assert (
        "PRIVATE NOTE" in lines["VIP guest"] and "not shown to the customer" in lines["VIP guest"]
    )
    assert "COPILOT DRAFT" in lines["Yes, at 8pm."]
    assert "Human agent:" in lines["Yes, we have one"]
    assert "PRIVATE NOTE" not in lines["Yes, we have one"]


def test_missed_questions_csv_with_either_separator(client):
    agent = _agent("mq")
    session_id = client.start_session(agent_id=agent)["session_id"]
    question = "Do you deliver; on Sundays, too?"
    client.append(session_id, message(question))
    message_id = client.get(f"/v1/sessions/{session_id}/history").json()["events"][-1]["payload"][
        "message_id"
    ]
    report = {"session_id": session_id, "message_id": message_id, "question": question}
    assert client.as_role("ingest").post("/v1/missed-questions", json=report).status_code == 201

    def exported(separator: str, delimiter: str) -> list[list[str]]:
        response = client.get(
            "/v1/exports/missed-questions.csv", params={"agent": agent, "separator": separator}
        )
        return _csv(response, delimiter)

    wait_for(lambda: len(exported("comma", ",")) == 2, what="the question projected")
    for separator, delimiter in (("comma", ","), ("semicolon", ";")):
        header, row = exported(separator, delimiter)
        assert header[:4] == ["Question", "Agent", "Status", "Occurrences"]
        assert row[:4] == [question, agent, "unresolved", "1"]
    assert client.get("/v1/exports/missed-questions.csv?separator=tab").status_code == 422


def test_the_audit_trail_csv_after_a_reviewer_action(client):
    session_id = client.start_session()["session_id"]
    body = {"assessment": "Yes-A", "reason": "booked, as asked"}
    assessed = client.as_role("reviewer").post(f"/v1/sessions/{session_id}/assessment", json=body)
    assert assessed.status_code == 201, assessed.text

    def exported() -> list[list[str]] | None:
        response = client.get("/v1/exports/audit.csv", params={"session": session_id})
        rows = _csv(response)
        return rows if len(rows) == 2 else None

    header, row = wait_for(exported, what="the assessment in the audit trail")
    entry = dict(zip(header, row, strict=True))
    assert entry["Action"] == "human_assessment_set"
    assert entry["Field"] == "human_assessment"
    assert (entry["Before"], entry["After"]) == ("", "Yes-A")
    assert entry["Reason"] == "booked, as asked"
    assert entry["Actor Name"] == "test reviewer"
    assert entry["Stream ID"] == session_id
    assert entry["Position"] == str(assessed.json()["position"])
    assert re.fullmatch(
        r"audit-\d{4}-\d\d-\d\d\.csv", _attachment_name(client.get("/v1/exports/audit.csv"))
    )


def test_a_viewer_exports_only_its_own_workspace(client):
    agent = _agent("scope")
    session = client.start_session(agent_id=agent)
    viewer = client.as_role("viewer")
    listed = viewer.get(
        "/v1/exports/sessions.csv", params={"agents": agent, "min_position": session["position"]}
    )
    assert len(_csv(listed)) == 2
    assert client.as_role("ingest").get("/v1/exports/sessions.csv").status_code == 403

    outsider = client.as_role(OTHER_WORKSPACE)
    transcript = f"/v1/exports/sessions/{session['session_id']}/transcript.txt"
    assert outsider.get(transcript).status_code == 404
    assert outsider.get(transcript).json()["error"]["code"]
    assert _csv(outsider.get("/v1/exports/sessions.csv", params={"agents": agent})) == [
        REPORT_COLUMNS
    ]
    assert outsider.get(f"/v1/exports/agents/{agent}/sessions.json").json() == []
