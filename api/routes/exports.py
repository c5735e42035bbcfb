"""Downloads: the session report (CSV, xlsx), one agent's sessions with their transcripts
(JSON), one session's transcript (text), missed questions and the audit trail (CSV).

Each honours the filters of the screen it exports (the same query models), is scoped to the
caller's workspace, and needs the viewer role. How they stream: ``api.exports``.
"""

from __future__ import annotations

import re
import tempfile
from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import UTC, datetime
from functools import partial
from typing import Annotated, Any
from uuid import UUID
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, Query
from fastapi.responses import StreamingResponse

from api.consistency import (
    SESSION_LIST,
    AuditConsistency,
    LedgerConsistency,
    MissedQuestionsConsistency,
    SessionListConsistency,
    read_your_writes,
)
from api.deps import Ledger, LedgerDep, Viewer
from api.exports import (
    AUDIT_TRAIL,
    EXPORT_CHUNK,
    MISSED_QUESTIONS,
    SESSION_REPORT,
    Column,
    Page,
    Row,
    Separator,
    csv_stream,
    every_page,
    file_chunks,
    header,
    json_array,
    primed,
    session_document,
    session_pages,
    session_report_chunks,
    session_states,
    table_chunks,
    transcript_text,
    write_xlsx,
)
from api.read_models import AuditQueries, MissedQuestionQueries
from api.routes import ERRORS
from api.routes.audit import AuditFilters
from api.routes.missed_questions import MissedQuestionFilters
from api.routes.sessions import own_session
from api.session_filters import SessionFilters

router = APIRouter(prefix="/v1/exports", tags=["exports"], responses=ERRORS)

CSV = "text/csv; charset=utf-8"
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
JSON = "application/json"
TEXT = "text/plain; charset=utf-8"

# The report's Comment column comes from the audit trail: read-your-writes waits for both.
ReportConsistency = Annotated[None, read_your_writes([SESSION_LIST, "audit_trail"])]
ListFilters = Annotated[SessionFilters, Query()]
SeparatorParam = Annotated[
    Separator, Query(description="comma, or semicolon (Excel where the decimal mark is a comma)")
]


def _file(media_type: str, what: str) -> dict[int | str, dict[str, Any]]:
    """The OpenAPI description of a download."""
    return {200: {"content": {media_type: {}}, "description": what}}


def _download(body: Iterable[bytes], media_type: str, filename: str) -> StreamingResponse:
    return StreamingResponse(
        body,
        media_type=media_type,
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


def _dated(stem: str, extension: str) -> str:
    return f"{stem}-{datetime.now(UTC):%Y-%m-%d}.{extension}"


def _safe(name: str) -> str:
    """``name`` fit for a quoted file name in any operating system."""
    return re.sub(r"[^A-Za-z0-9._-]+", "_", name)[:100] or "_"


def _zone(ledger: Ledger, workspace_id: str) -> ZoneInfo:
    """The workspace time zone, the one the list reads naive filter times in."""
    _table, rules = ledger.queries.view(workspace_id)
    return rules.defaults.zone


def _csv(
    ledger: Ledger,
    workspace_id: str,
    columns: Sequence[str],
    chunks: Iterator[list[Row]],
    stem: str,
    separator: Separator,
) -> StreamingResponse:
    body = csv_stream(
        columns, primed(chunks), zone=_zone(ledger, workspace_id), separator=separator
    )
    return _download(body, CSV, _dated(stem, "csv"))


def _table_csv(
    ledger: Ledger,
    workspace_id: str,
    columns: Sequence[Column[Any]],
    fetch: Callable[..., Page[Any]],
    stem: str,
    separator: Separator,
) -> StreamingResponse:
    """``fetch(cursor=…)``: one page of the table's rows."""
    chunks = table_chunks(columns, every_page(fetch))
    return _csv(ledger, workspace_id, header(columns), chunks, stem, separator)


def _session_report(
    ledger: Ledger, workspace_id: str, query: SessionFilters
) -> Iterator[list[Row]]:
    pages = session_pages(ledger.queries, workspace_id, query)
    return session_report_chunks(pages, AuditQueries(ledger.pool), workspace_id)


@router.get(
    "/sessions.csv",
    summary="The session report as CSV, with the session list's filters",
    response_class=StreamingResponse,
    responses=_file(CSV, "UTF-8 with BOM; the columns Date/Time … Integration"),
)
def session_report_csv(
    ledger: LedgerDep,
    who: Viewer,
    query: ListFilters,
    _consistent: ReportConsistency,
    separator: SeparatorParam = Separator.comma,
) -> StreamingResponse:
    """Every session the list shows for these filters, in the list's order (a list page's
    ``limit`` and ``cursor``, if sent, are ignored). Times are in the workspace's time zone."""
    chunks = _session_report(ledger, who.workspace_id, query)
    return _csv(ledger, who.workspace_id, header(SESSION_REPORT), chunks, "sessions", separator)


@router.get(
    "/sessions.xlsx",
    summary="The session report as an Excel workbook, with the session list's filters",
    response_class=StreamingResponse,
    responses=_file(XLSX, "One sheet, the session report's columns"),
)
def session_report_xlsx(
    ledger: LedgerDep, who: Viewer, query: ListFilters, _consistent: ReportConsistency
) -> StreamingResponse:
    """The workbook is written (constant memory, to a temporary file) before it is sent."""
    # Not a ``with``: the file outlives this call; file_chunks closes (and so deletes) it.
    workbook = tempfile.TemporaryFile()  # noqa: SIM115
    try:
        chunks = _session_report(ledger, who.workspace_id, query)
        write_xlsx(workbook, header(SESSION_REPORT), chunks, zone=_zone(ledger, who.workspace_id))
    except BaseException:
        workbook.close()
        raise
    return _download(file_chunks(workbook), XLSX, _dated("sessions", "xlsx"))


@router.get(
    "/agents/{agent_id:path}/sessions.json",  # path: an agent id may hold a "/"
    summary="One agent's sessions with their full transcripts, as a JSON array",
    response_class=StreamingResponse,
    responses=_file(JSON, "An array of sessions folded from the ledger, as /state has them"),
)
def agent_sessions_json(
    agent_id: str,
    ledger: LedgerDep,
    who: Viewer,
    query: ListFilters,
    _consistent: SessionListConsistency,
) -> StreamingResponse:
    """The sessions the list shows for this agent (the other list filters narrow them; the
    path's agent replaces ``agents``), each folded from its own history, in the list's order."""
    own_agent = query.model_copy(update={"agents": [agent_id]})
    pages = primed(session_pages(ledger.queries, who.workspace_id, own_agent))
    documents = map(session_document, session_states(ledger.store, pages, who.workspace_id))
    return _download(json_array(documents), JSON, f"agent-{_safe(agent_id)}-sessions.json")


@router.get(
    "/sessions/{session_id}/transcript.txt",
    summary="One session's transcript as readable text",
    response_class=StreamingResponse,
    responses=_file(TEXT, "Times and author roles; drafts and private notes marked"),
)
def transcript_txt(
    session_id: UUID, ledger: LedgerDep, who: Viewer, _consistent: LedgerConsistency
) -> StreamingResponse:
    state = own_session(ledger, session_id, who).state
    lines = (
        line.encode("utf-8") for line in transcript_text(state, _zone(ledger, who.workspace_id))
    )
    return _download(lines, TEXT, f"session-{session_id}-transcript.txt")


@router.get(
    "/missed-questions.csv",
    summary="Missed questions as CSV, with the missed-question list's filters",
    response_class=StreamingResponse,
    responses=_file(CSV, "UTF-8 with BOM; one row per question group"),
)
def missed_questions_csv(
    ledger: LedgerDep,
    who: Viewer,
    _consistent: MissedQuestionsConsistency,
    filters: Annotated[MissedQuestionFilters, Depends()],
    separator: SeparatorParam = Separator.comma,
) -> StreamingResponse:
    queries = MissedQuestionQueries(ledger.pool)
    fetch = partial(queries.page, who.workspace_id, **filters.arguments, limit=EXPORT_CHUNK)
    return _table_csv(
        ledger, who.workspace_id, MISSED_QUESTIONS, fetch, "missed-questions", separator
    )


@router.get(
    "/audit.csv",
    summary="The audit trail as CSV, with the audit trail's filters",
    response_class=StreamingResponse,
    responses=_file(CSV, "UTF-8 with BOM; newest first"),
)
def audit_csv(
    ledger: LedgerDep,
    who: Viewer,
    _consistent: AuditConsistency,
    filters: Annotated[AuditFilters, Depends()],
    separator: SeparatorParam = Separator.comma,
) -> StreamingResponse:
    queries = AuditQueries(ledger.pool)
    fetch = partial(queries.page, who.workspace_id, **filters.arguments, limit=EXPORT_CHUNK)
    return _table_csv(ledger, who.workspace_id, AUDIT_TRAIL, fetch, "audit", separator)
