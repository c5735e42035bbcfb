"""The session report streams: it fetches the list page by page, as the output is consumed,
never everything at once (through PostgreSQL, with the real projections)."""

from __future__ import annotations

import csv
import io
from datetime import timedelta

from api.exports import (
    SESSION_REPORT,
    csv_stream,
    header,
    session_pages,
    session_report_chunks,
)
from api.queries import SessionQueries
from api.read_models import AuditQueries
from api.session_filters import SessionFilters
from domain.rules import DEFAULT_RULES
from infra.database import apply_schema, create_pool
from infra.event_store import EventStore
from projections.audit_trail import AuditTrailProjection
from projections.engine import ProjectionEngine
from projections.registry import read_model_schema
from projections.session_list import SessionListProjection
from tests.builders import REVIEWER, START, SessionScript

SESSIONS = 35
CHUNK = 10


class CountingQueries(SessionQueries):
    """The session list's queries, counting the pages fetched."""

    pages_fetched = 0

    def page(self, workspace_id, query=None):
        self.pages_fetched += 1
        return super().page(workspace_id, query)


def _session(number: int) -> SessionScript:
    script = SessionScript(at=START + timedelta(minutes=number)).start(
        agent_id="exporter", channel="web", contact={"name": f"Customer {number}"}
    )
    return script.say(f"question {number}").reply(f"answer {number}")


def _commented(script: SessionScript, *texts: str) -> SessionScript:
    for number, text in enumerate(texts):
        script.record("session.comment_added", actor=REVIEWER, comment_id=f"c{number}", text=text)
    return script


def test_the_report_fetches_the_list_in_chunks_as_it_is_read(database_url):
    apply_schema(database_url, read_model_schema())
    store = EventStore(database_url, pool_size=2)
    store.create_schema()
    pool = create_pool(database_url)
    try:
        engine = ProjectionEngine(
            pool, [SessionListProjection(DEFAULT_RULES), AuditTrailProjection()], store
        )
        scripts = [_session(n) for n in range(SESSIONS)]
        _commented(scripts[0], "first thought", "second thought")
        for script in scripts:
            engine.apply_batch(script.events)
        queries = CountingQueries(pool)
        pages = session_pages(queries, "w1", SessionFilters(), chunk_size=CHUNK)
        chunks = session_report_chunks(pages, AuditQueries(pool), "w1")
        body = csv_stream(header(SESSION_REPORT), chunks, zone=DEFAULT_RULES.defaults.zone)

        pieces = [next(body)]  # the header: nothing fetched yet
        assert queries.pages_fetched == 0
        pieces.append(next(body))  # the first chunk: one page
        assert queries.pages_fetched == 1
        pieces.extend(body)
    finally:
        pool.close()
        store.close()

    assert queries.pages_fetched == 4  # 10 + 10 + 10 + 5 rows
    rows = list(csv.DictReader(io.StringIO(b"".join(pieces).decode("utf-8-sig"))))
    assert len(rows) == SESSIONS
    assert rows[0]["Contact"] == f"Customer {SESSIONS - 1}"  # newest first, as the list
    comments = {row["Contact"]: row["Comment"] for row in rows}
    assert comments["Customer 0"] == "second thought"
    assert comments["Customer 1"] == ""
