"""Exports that stream with constant memory at any size (routes: ``api.routes.exports``).

Memory design: rows come from the read models in keyset pages of ``EXPORT_CHUNK`` rows,
fetched through the very queries the list routes use (``SessionQueries.page``,
``MissedQuestionQueries.page``, ``AuditQueries.page``), and each page is written out before
the next is fetched. Keyset pages rather than one server-side cursor: a slow client then
holds no pooled connection (nor an open transaction) while it reads, and every page is an
index range scan, however deep. The price: the export is not one snapshot — a session that
is projected while the export runs may or may not be in it, like on a paged screen.

The first page is fetched before the response starts (``primed``), so an invalid filter or
a database error is an ordinary error answer, not a truncated file.

CSV: written by the ``csv`` module (quoting), UTF-8 with a byte-order mark so that Excel
opens it as UTF-8 (without it Excel reads ANSI and garbles every non-ASCII name). Times are
``YYYY-MM-DD HH:MM:SS`` in the workspace's time zone (what Excel reads as a date), booleans
TRUE/FALSE, lists joined with "; ". Text that a spreadsheet would run as a formula is
prefixed with an apostrophe (CSV injection, OWASP), except plain numbers such as "+4930123".

xlsx: a zip cannot be streamed while it is written by xlsxwriter (the central directory
comes last and the library wants a seekable file), so the workbook is written row by row
in ``constant_memory`` mode into an anonymous temporary file, which is then streamed out.
Memory stays constant; disk holds one workbook while it is sent.
"""

from __future__ import annotations

import csv
import io
import itertools
import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from operator import attrgetter
from typing import IO, Any, Generic, Protocol, TypeVar
from zoneinfo import ZoneInfo

import orjson
import xlsxwriter

from api.queries import SessionQueries
from api.read_model_schemas import AuditEntryItem, MissedQuestionGroup
from api.read_models import AuditQueries
from api.schemas import SessionListItem
from api.session_filters import SessionFilters, SessionListQuery
from domain.replay import replay
from domain.session_state import SessionState, TranscriptEntry
from domain.values import AuthorRole
from infra.event_store import EventStore

EXPORT_CHUNK = 500  # rows per page: the session list's largest page
FILE_CHUNK_BYTES = 64 * 1024
BOM = "\ufeff"
AFTER_THE_YEAR = "-%m-%d %H:%M:%S"  # the year is written apart: see local_text

T = TypeVar("T")
Row = list[Any]


# --- pages ------------------------------------------------------------------------------------


class Page(Protocol[T]):
    items: list[T]
    next_cursor: str | None


def every_page(fetch: Callable[..., Page[T]]) -> Iterator[Page[T]]:
    """``fetch(cursor=None)``, then ``fetch(cursor=next_cursor)`` until a page says there is
    no next."""
    cursor: str | None = None
    while True:
        page = fetch(cursor=cursor)
        yield page
        if page.next_cursor is None:
            return
        cursor = page.next_cursor


_EXHAUSTED: Any = object()


def primed(iterator: Iterator[T]) -> Iterator[T]:
    """``iterator`` with its first element taken now, so its errors surface now."""
    first = next(iterator, _EXHAUSTED)
    return iterator if first is _EXHAUSTED else itertools.chain([first], iterator)


def session_pages(
    queries: SessionQueries,
    workspace_id: str,
    filters: SessionFilters,
    chunk_size: int = EXPORT_CHUNK,
) -> Iterator[Page[SessionListItem]]:
    """Every session matching the list's filters, in the list's order, page by page."""
    given = {name: getattr(filters, name) for name in SessionFilters.model_fields}
    start = SessionListQuery(**given, limit=chunk_size)
    return every_page(
        lambda cursor: queries.page(workspace_id, start.model_copy(update={"cursor": cursor}))
    )


# --- tables -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Column(Generic[T]):
    title: str
    value: Callable[[T], Any]


def header(columns: Sequence[Column[T]]) -> list[str]:
    return [column.title for column in columns]


def table_rows(columns: Sequence[Column[T]], items: Iterable[T]) -> list[Row]:
    return [[column.value(item) for column in columns] for item in items]


def table_chunks(columns: Sequence[Column[T]], pages: Iterable[Page[T]]) -> Iterator[list[Row]]:
    for page in pages:
        yield table_rows(columns, page.items)


# --- the session report -----------------------------------------------------------------------


@dataclass(frozen=True)
class ReportRow:
    session: SessionListItem
    comment: str | None


def _contact_information(row: ReportRow) -> str | None:
    known = [v for v in (row.session.contact_email, row.session.contact_phone) if v]
    return "; ".join(known) or None


def _listed(column: str) -> Callable[[ReportRow], Any]:
    """A report column that is a ``session_list`` column as it is."""
    return attrgetter(f"session.{column}")


# Title -> where the value comes from. Every value is a session_list column except Comment,
# which the read model lacks: it is the session's newest comment (session.comment_added) in
# the audit_trail read model, fetched for a whole page in one query (``latest_comments``).
SESSION_REPORT: tuple[Column[ReportRow], ...] = tuple(
    Column(title, value)
    for title, value in (
        ("Date/Time", _listed("started_at")),
        ("Session Type", _listed("session_type")),
        ("Is Lead", _listed("is_lead")),
        ("Is Opportunity", _listed("is_opportunity")),
        ("Is Test", _listed("is_test")),
        ("Contact", _listed("contact_name")),
        ("Contact Information", _contact_information),  # email; phone
        ("External ID", _listed("external_id")),
        ("Summary", _listed("summary")),
        ("Lead Value", _listed("lead_value")),
        ("ASR", _listed("asr")),
        ("Conversation Rate", _listed("conversion_ratio")),
        ("ASR Recognition", _listed("recognition")),
        ("Auto Assessment", _listed("auto_assessment")),
        ("Human Assessment", _listed("human_assessment")),
        ("Conversation Quality", _listed("conversation_quality")),  # stars, 1 to 5
        ("Working Hours", _listed("in_working_hours")),
        ("Comment", attrgetter("comment")),
        ("Channel", _listed("channel")),
        ("Actual Result", _listed("actual_result")),
        ("Expected Result", _listed("expected_result")),
        ("Agent IDN", _listed("agent_id")),
        ("Units", _listed("units")),
        ("Integration", _listed("integration")),
    )
)


def session_report_chunks(
    pages: Iterable[Page[SessionListItem]], audit: AuditQueries, workspace_id: str
) -> Iterator[list[Row]]:
    """The report's rows, one list per page of sessions."""
    for page in pages:
        comments = audit.latest_comments(workspace_id, [s.session_id for s in page.items])
        rows = [ReportRow(s, comments.get(s.session_id)) for s in page.items]
        yield table_rows(SESSION_REPORT, rows)


# --- missed questions and the audit trail -----------------------------------------------------


def _columns(*pairs: tuple[str, str]) -> tuple[Column[Any], ...]:
    return tuple(Column(title, attrgetter(name)) for title, name in pairs)


MISSED_QUESTIONS: tuple[Column[MissedQuestionGroup], ...] = _columns(
    ("Question", "question"),
    ("Agent", "agent_id"),
    ("Status", "status"),
    ("Occurrences", "occurrences"),
    ("Occurrences In Range", "occurrences_in_range"),
    ("Sessions", "sessions"),
    ("First Seen", "first_seen"),
    ("Last Seen", "last_seen"),
    ("Group ID", "group_id"),
)

AUDIT_TRAIL: tuple[Column[AuditEntryItem], ...] = _columns(
    ("Recorded At", "recorded_at"),
    ("Occurred At", "occurred_at"),
    ("Actor Kind", "actor.kind"),
    ("Actor ID", "actor.id"),
    ("Actor Name", "actor.name"),
    ("Action", "action"),
    ("Field", "field"),
    ("Before", "before"),
    ("After", "after"),
    ("Reason", "reason"),
    ("Stream ID", "stream_id"),
    ("Stream Type", "stream_type"),
    ("Version", "version"),
    ("Position", "position"),
    ("Event Type", "event_type"),
    ("Event ID", "event_id"),
    ("Hash", "hash"),
)


# --- CSV --------------------------------------------------------------------------------------


class Separator(StrEnum):
    comma = "comma"
    semicolon = "semicolon"  # what Excel expects where the decimal mark is a comma

    @property
    def char(self) -> str:
        return "," if self is Separator.comma else ";"


# A spreadsheet runs a cell starting with one of these as a formula.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_PLAIN_NUMBER = re.compile(r"[+-]?[\d\s().]+")


def cell_text(value: Any, zone: ZoneInfo, *, formula_safe: bool = True) -> str:
    """A value as a cell's text; ``formula_safe``: text a spreadsheet would run as a formula
    is prefixed (a CSV cell). An xlsx string cell is never run, so it keeps its text as is."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else repr(value)
    if isinstance(value, datetime):
        return local_text(value, zone)
    if isinstance(value, list | tuple):
        return "; ".join(cell_text(v, zone, formula_safe=formula_safe) for v in value)
    if isinstance(value, dict):
        return orjson.dumps(value).decode()
    return _neutralised(str(value)) if formula_safe else str(value)


def _neutralised(text: str) -> str:
    if text.startswith(_FORMULA_START) and not _PLAIN_NUMBER.fullmatch(text):
        return "'" + text
    return text


def csv_stream(
    columns: Sequence[str],
    chunks: Iterable[list[Row]],
    *,
    zone: ZoneInfo,
    separator: Separator = Separator.comma,
) -> Iterator[bytes]:
    """The CSV document, one piece of bytes per chunk of rows (the header with the BOM first)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=separator.char, lineterminator="\r\n")
    buffer.write(BOM)
    writer.writerow(columns)
    yield _drained(buffer)
    for rows in chunks:
        writer.writerows([cell_text(value, zone) for value in row] for row in rows)
        yield _drained(buffer)


def _drained(buffer: io.StringIO) -> bytes:
    text = buffer.getvalue()
    buffer.seek(0)
    buffer.truncate()
    return text.encode("utf-8")


# --- xlsx -------------------------------------------------------------------------------------


def write_xlsx(
    target: IO[bytes], columns: Sequence[str], chunks: Iterable[list[Row]], *, zone: ZoneInfo
) -> None:
    """A one-sheet workbook written row by row (``constant_memory``: a row is flushed to disk
    as soon as the next begins, so only one row is ever held)."""
    workbook = xlsxwriter.Workbook(target, {"constant_memory": True})
    sheet = workbook.add_worksheet("Sessions")
    cell = _CellWriter(sheet, zone, workbook.add_format({"num_format": "yyyy-mm-dd hh:mm:ss"}))
    sheet.write_row(0, 0, columns, workbook.add_format({"bold": True}))
    rows = itertools.chain.from_iterable(chunks)
    for number, row in enumerate(rows, start=1):
        for column, value in enumerate(row):
            cell.write(number, column, value)
    workbook.close()


class _CellWriter:
    """Writes each value as its own cell type; text always as text, never as a formula
    (``worksheet.write`` would run "=..." as one)."""

    def __init__(self, sheet, zone: ZoneInfo, date_format) -> None:
        self.sheet = sheet
        self.zone = zone
        self.date_format = date_format

    def write(self, row: int, column: int, value: Any) -> None:
        if value is None:
            return  # constant_memory rows need no blank cells
        if isinstance(value, bool):
            self.sheet.write_boolean(row, column, value)
        elif isinstance(value, int | float):
            self.sheet.write_number(row, column, value)
        elif isinstance(value, datetime):
            # Excel has no time zones: the wall-clock time of the workspace.
            local = value.astimezone(self.zone).replace(tzinfo=None)
            self.sheet.write_datetime(row, column, local, self.date_format)
        else:
            self.sheet.write_string(row, column, cell_text(value, self.zone, formula_safe=False))


def file_chunks(file: IO[bytes]) -> Iterator[bytes]:
    """The file from its start, in pieces; closes it (a temporary file: deletes it) at the end,
    also when the client went away mid-way."""
    try:
        file.seek(0)
        while piece := file.read(FILE_CHUNK_BYTES):
            yield piece
    finally:
        file.close()


# --- one agent's sessions, with transcripts ---------------------------------------------------


def session_states(
    store: EventStore, pages: Iterable[Page[SessionListItem]], workspace_id: str
) -> Iterator[SessionState]:
    """Each listed session folded from its own stream in the ledger, one at a time."""
    for page in pages:
        for item in page.items:
            events = store.read_stream(item.session_id)
            # The list row is the workspace's; the ledger is checked too, as every read does.
            if events and events[0].workspace_id == workspace_id:
                yield replay(item.session_id, events).state


def json_array(documents: Iterable[Any]) -> Iterator[bytes]:
    """A JSON array written element by element."""
    separator = b"["
    for document in documents:
        yield separator + orjson.dumps(document)
        separator = b","
    yield b"[]" if separator == b"[" else b"]"


def session_document(state: SessionState) -> dict[str, Any]:
    return {"session_id": str(state.id), **state.model_dump(mode="json")}


# --- one transcript as text -------------------------------------------------------------------

# Drafts and notes were never shown to the customer: a reader of the text must not take them
# for part of the conversation.
ROLE_LABELS = {
    AuthorRole.customer: "Customer",
    AuthorRole.ai: "AI agent",
    AuthorRole.human_agent: "Human agent",
    AuthorRole.copilot_draft: "[COPILOT DRAFT, not sent to the customer] Copilot",
    AuthorRole.private_note: "[PRIVATE NOTE, not shown to the customer] Note",
}
CONTINUATION = "    "


def transcript_text(state: SessionState, zone: ZoneInfo) -> Iterator[str]:
    """The session's header, then one paragraph per transcript entry, oldest first."""
    yield _transcript_header(state, zone)
    for entry in state.transcript:
        yield _transcript_entry(entry, zone)


def _transcript_header(state: SessionState, zone: ZoneInfo) -> str:
    contact = state.contact
    reachable = ", ".join(_one_line(v) for v in (contact.email, contact.phone) if v)
    lines = (
        f"Session {state.id}",
        f"Agent: {_one_line(state.agent_id or '-')}  Channel: {state.channel or '-'}"
        f"  Status: {state.status or '-'}",
        f"Contact: {_one_line(contact.name or '-')}" + (f" ({reachable})" if reachable else ""),
        f"Started: {_local(state.started_at, zone)}  Finished: {_local(state.finished_at, zone)}",
        f"Times are in {zone.key}.",
    )
    return "\n".join(lines) + "\n\n"


def _transcript_entry(entry: TranscriptEntry, zone: ZoneInfo) -> str:
    author = ROLE_LABELS[entry.author_role]
    if entry.author:
        author += f" ({_one_line(entry.author)})"
    # Every line break a reader may honour (str.splitlines': CR alone, NEL, U+2028, ...),
    # not only LF: an unindented line could pass for an entry of its own.
    text = ("\n" + CONTINUATION).join(entry.text.splitlines())
    lines = [f"[{_local(entry.occurred_at, zone)}] {author}: {text}"]
    if entry.attachments:
        names = ", ".join(_one_line(attachment.name) for attachment in entry.attachments)
        lines.append(f"{CONTINUATION}(attachments: {names})")
    if entry.missed:
        lines.append(f"{CONTINUATION}(the agent missed this question)")
    return "\n".join(lines) + "\n"


def _one_line(value: str) -> str:
    """A value sent by a client (a contact's name), on the one line a transcript gives it:
    with a line break in it, it could write lines that pass for the ledger's own."""
    return " ".join(value.splitlines())


def _local(moment: datetime | None, zone: ZoneInfo) -> str:
    return local_text(moment, zone) if moment else "-"


def local_text(moment: datetime, zone: ZoneInfo) -> str:
    """``moment`` in ``zone`` as YYYY-MM-DD HH:MM:SS; the year in four digits always
    (strftime writes year 1 as ``1``)."""
    local = moment.astimezone(zone)
    return f"{local.year:04d}{local.strftime(AFTER_THE_YEAR)}"
