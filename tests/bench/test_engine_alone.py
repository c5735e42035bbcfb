"""bench.engine_alone at a tiny size, so the tool behind the engine's measured changes keeps
working: a seeded template, a run on a copy of it, the copy and the template dropped."""

from __future__ import annotations

import re
import uuid

import psycopg

from bench import engine_alone
from infra.database import drop_database, server_url


def test_a_run_applies_the_templates_backlog_and_leaves_no_database(postgres_server):
    template = f"engine_alone_test_{uuid.uuid4().hex[:8]}"
    before = _databases(postgres_server)
    try:
        stored = engine_alone.seed(postgres_server, template, 600)
        report = engine_alone.run(postgres_server, template, 100, segments=2)
    finally:
        drop_database(server_url(postgres_server, template))
    spans = [
        [int(n.replace(",", "")) for n in re.match(r"events ([\d,]+)-([\d,]+) ", line).groups()]
        for line in report.splitlines()
    ]
    # Two consecutive segments that together are the backlog after the warm-up.
    assert spans[0][0] == 1 and spans[1][0] == spans[0][1] + 1
    assert spans[1][1] == stored - engine_alone.WARM_UP_EVENTS
    assert all(
        re.search(r"[\d,]+ events/s; µs/event: wall \d+", line) for line in report.splitlines()
    )
    assert _databases(postgres_server) == before


def _databases(server: str) -> set[str]:
    with psycopg.connect(server) as conn:
        return {row[0] for row in conn.execute("SELECT datname FROM pg_database")}
