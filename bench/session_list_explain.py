"""How the session list's filtered pages perform at 1,000,000 sessions.

Loads 1,000,000 synthetic session_list rows with COPY into a scratch database (on the server
``LEDGER_DATABASE_URL`` names, or an embedded PostgreSQL in a temporary directory), builds
the read model's indexes, and runs EXPLAIN (ANALYZE, BUFFERS) on the exact statements the API
sends for a few representative filter combinations (built by ``api.session_filters``).

    .venv/bin/python -m bench.session_list_explain [--rows N] [--plans]

Prints, per combination, the median execution time of a few warm runs, the rows returned,
and the indexes the plan used; ``--plans`` prints each full plan too. The scratch database is
dropped at the end. The results are summarised in docs/session_list_indexes.md.
"""

from __future__ import annotations

import argparse
import os
import random
import re
import statistics
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg

from api.queries import LIST_COLUMNS
from api.session_filters import SessionListQuery, page_query
from domain.rules import DEFAULT_RULES
from infra.database import create_database, drop_database, server_url
from infra.embedded import EmbeddedPostgres
from projections.session_list import COLUMNS, SessionListProjection

WORKSPACE = "acme"
NOW = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)
AGENTS = [f"agent-{n}" for n in range(50)]
CHANNELS = ["web", "sms", "voice", "email", "whatsapp", "telegram"]
COUNTRIES = ["DE", "FR", "US", "GB", "ES", "IT", "NL", "PL", "SE", "AT"]
FIRST = ["Ada", "Bob", "Cyd", "Dee", "Eve", "Finn", "Gus", "Hal", "Ida", "Jo", "Kai", "Lea"]
LAST = ["Smith", "Lovelace", "Meyer", "Garcia", "Rossi", "Novak", "Jansen", "Berg", "Kim"]
STATUSES = ["closed"] * 16 + ["active"] * 2 + ["handed_over", "resolved"]
ASSESSMENTS = ["Yes-A", "Yes-B", "No", None]
WARM_RUNS = 5

# The combinations the Sessions screen sends most, from "everything" to narrow searches.
COMBINATIONS = {
    "1 default page (live, newest first)": {},
    "2 agent + channels + closed + last 7 days": {
        "agents": ["agent-7"],
        "channels": ["web", "sms"],
        "statuses": ["closed"],
        "started_within": "last_7d",
    },
    "3 contact search 'smith' (substring)": {"contact": "smith"},
    "4 contact search '.4242@' (one row)": {"contact": ".4242@"},
    "5 tag vip + opportunity + effective No": {
        "tags": ["vip"],
        "is_opportunity": True,
        "effective_assessment": "No",
    },
    "6 >= 35 messages + missed questions, by last message asc": {
        "message_count": 35,
        "message_count_op": "gte",
        "has_missed_questions": True,
        "sort": "last_message_at",
        "order": "asc",
    },
    "6b the same, newest first": {
        "message_count": 35,
        "message_count_op": "gte",
        "has_missed_questions": True,
    },
    "7 IP exact": {"ip": "10.1.2.3"},
    "8 favourites in March (local time)": {
        "is_favorite": True,
        "started_from": "2026-03-01",
        "started_to": "2026-04-01",
    },
}


def copy_line(rng: random.Random, index: int) -> str:
    """One row in COPY text format (columns in ``COLUMNS`` order)."""
    started = NOW - timedelta(seconds=rng.randrange(365 * 24 * 3600))
    messages = rng.randrange(41)
    last = started + timedelta(seconds=rng.randrange(1, 3600)) if messages else None
    closed = rng.random() < 0.8
    first, family = rng.choice(FIRST), rng.choice(LAST)
    missed = rng.randrange(1, 4) if rng.random() < 0.1 else 0
    auto = rng.choice(ASSESSMENTS)
    human = rng.choice(ASSESSMENTS[:3]) if rng.random() < 0.05 else None
    is_lead = rng.random() < 0.15
    opportunity = is_lead and rng.random() < 0.7
    values = {
        "session_id": uuid.UUID(int=rng.getrandbits(128)),
        "workspace_id": WORKSPACE if rng.random() < 0.9 else f"ws-{index % 97}",
        "status": "closed" if closed else rng.choice(STATUSES),
        "agent_id": AGENTS[min(int(rng.expovariate(1 / 8)), 49)],
        "channel": rng.choice(CHANNELS),
        "contact_name": f"{first} {family}",
        "contact_email": f"{first}.{family}.{index}@example.com".lower(),
        "contact_phone": f"+49{rng.randrange(10**9, 10**10)}",
        "ip": f"10.{rng.randrange(256)}.{rng.randrange(256)}.{rng.randrange(256)}",
        "country": rng.choice(COUNTRIES),
        "utm": "{}",
        "responsible": "ai",
        "handover_requested": False,
        "started_at": started,
        "last_message_at": last,
        "finished_at": (last or started) if closed else None,
        "duration_seconds": int(((last or started) - started).total_seconds()),
        "session_length": "medium",
        "started_day": started.date(),
        "message_count": messages,
        "customer_message_count": messages // 2,
        "ai_message_count": messages - messages // 2,
        "human_message_count": 0,
        "has_attachments": rng.random() < 0.05,
        "has_customer_responses": messages > 1,
        "sentiment": rng.choice(["positive", "neutral", "negative", None]),
        "negative_sentiment": rng.random() < 0.1,
        "negative_message_ids": "{}",
        "goals": "{booking}" if rng.random() < 0.2 else "{}",
        "journey_blocks": "{Greeting}",
        "forms": "{}",
        "tags": "{vip}" if rng.random() < 0.05 else "{}",
        "missed_question_count": missed,
        "longest_missed_run": min(missed, 1),
        "customer_message_ids": "{}",
        "missed_ordinals": "{}",
        "is_lead": is_lead,
        "refused": False,
        "unavailable": False,
        "is_opportunity": opportunity,
        "is_test": rng.random() < 0.02,
        "is_todo": rng.random() < 0.03,
        "is_archived": rng.random() < 0.05,
        "is_favorite": rng.random() < 0.01,
        "auto_assessment": auto,
        "human_assessment": human,
        "effective_assessment": human or auto,
        "corrected_by_reviewer": human is not None and human != auto,
        "lead_value": 1.0 if is_lead else 0.0,
        "conversion_ratio": 1.0,
        "in_working_hours": rng.random() < 0.5,
        "recognition": 1.0,
        "asr": 1.0 if opportunity and (human or auto) in ("Yes-A", "Yes-B") else 0.0,
        "rules_version": 0,
        "version": messages + 2,
        "position": index,
    }
    return "\t".join(_copy_text(values.get(column)) for column in COLUMNS) + "\n"


def _copy_text(value) -> str:
    if value is None:
        return r"\N"
    if isinstance(value, bool):
        return "t" if value else "f"
    return str(value)


def load(url: str, rows: int) -> float:
    """Create the table, COPY the rows in, build the indexes; returns the seconds it took."""
    projection = SessionListProjection(DEFAULT_RULES)
    began = time.perf_counter()
    with psycopg.connect(url, autocommit=True) as conn:
        for script in projection.schema():
            conn.execute(script)
        # Loading first and indexing after is several times faster than the other way round.
        for (name,) in conn.execute(
            "SELECT indexname FROM pg_indexes WHERE tablename = 'session_list'"
            " AND indexname <> 'session_list_pkey'"
        ).fetchall():
            conn.execute(psycopg.sql.SQL("DROP INDEX {}").format(psycopg.sql.Identifier(name)))
        rng = random.Random(42)
        columns = psycopg.sql.SQL(", ").join(map(psycopg.sql.Identifier, COLUMNS))
        with (
            conn.cursor() as cur,
            cur.copy(psycopg.sql.SQL("COPY session_list ({}) FROM STDIN").format(columns)) as copy,
        ):
            for start in range(0, rows, 10_000):
                chunk = range(start, min(rows, start + 10_000))
                copy.write("".join(copy_line(rng, index) for index in chunk))
        print(f"copied {rows:,} rows in {time.perf_counter() - began:.1f} s", flush=True)
        conn.execute("SET maintenance_work_mem = '512MB'")
        for script in projection.schema():
            conn.execute(script)
        conn.execute("VACUUM ANALYZE session_list")
    return time.perf_counter() - began


def explain(url: str, show_plans: bool) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        for title, params in COMBINATIONS.items():
            built = page_query(
                SessionListQuery(**params),
                table="session_list",
                columns=LIST_COLUMNS,
                workspace_id=WORKSPACE,
                zone=DEFAULT_RULES.defaults.zone,
                now=NOW,
            )
            statement = "EXPLAIN (ANALYZE, BUFFERS) " + built.statement.as_string(conn)
            timings, plan = [], []
            for _ in range(WARM_RUNS + 1):  # the first run warms the cache
                plan = [line for (line,) in conn.execute(statement, built.params).fetchall()]
                timings.append(_execution_ms(plan))
            rows = conn.execute(built.statement, built.params).rowcount
            indexes = sorted(
                set(
                    re.findall(
                        r"(?:on|Index Scan using|Bitmap Index Scan on) "
                        r"(session_list_\w+)",
                        "\n".join(plan),
                    )
                )
            )
            print(
                f"{title}: median {statistics.median(timings[1:]):.2f} ms"
                f" (max {max(timings[1:]):.2f}), {rows} rows, indexes: {', '.join(indexes)}"
            )
            if show_plans:
                print("\n".join(f"    {line}" for line in plan))


def _execution_ms(plan: list[str]) -> float:
    for line in plan:
        if line.startswith("Execution Time:"):
            return float(line.split()[2])
    raise ValueError("no execution time in the plan")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--plans", action="store_true", help="print every plan in full")
    options = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="session-list-bench-") as scratch:
        os.chmod(scratch, 0o755)  # the embedded server runs as its own user
        server, base = _server(Path(scratch))
        url = server_url(base, f"bench_session_list_{uuid.uuid4().hex[:8]}")
        create_database(url)
        try:
            print(f"loaded and indexed in {load(url, options.rows):.1f} s", flush=True)
            explain(url, options.plans)
        finally:
            drop_database(url)
            if server:
                server.stop()


def _server(scratch: Path) -> tuple[EmbeddedPostgres | None, str]:
    if os.environ.get("LEDGER_DATABASE_URL"):
        return None, os.environ["LEDGER_DATABASE_URL"]
    server = EmbeddedPostgres(scratch / "pg", dbname="postgres")
    return server, server.start()


if __name__ == "__main__":
    main()
