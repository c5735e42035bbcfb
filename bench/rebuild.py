"""Rebuild speed: events/s of a blue/green rebuild of ``session_list`` (and ``asr_metrics``
with it) over a generated ledger, beside PostgreSQL's COPY raw limit for as many rows.

    python -m bench.rebuild [--events 100000] [--batch-size 5000] [--partitions 2]

Uses ``LEDGER_DATABASE_URL``'s server (a scratch database is created and dropped) or an
embedded PostgreSQL in a temporary directory. Prints one line per measure and a JSON summary.
"""

from __future__ import annotations

import argparse
import itertools
import os
import resource
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson
import psycopg

from bench.harness import postgres_cpu_seconds
from infra.database import apply_schema, create_database, create_pool, drop_database, server_url
from infra.embedded import EmbeddedPostgres
from infra.event_store import EventStore
from infra.gc_tuning import tune_garbage_collection
from projections.rebuild import DEFAULT_BATCH_SIZE, DEFAULT_PARTITIONS, Rebuild
from projections.registry import read_model_schema
from tests.builders import SessionScript

EVENTS_PER_SESSION = 10  # start, 7 messages, analysis, close
APPEND_CHUNK = 1000


def generate(store: EventStore, events: int) -> int:
    """Sessions of ten events over a few agents, channels and days; returns events stored."""
    stored, pending = 0, []
    positions = itertools.count(1)
    for n in range(events // EVENTS_PER_SESSION):
        at = datetime(2026, 1, 5, 8, tzinfo=UTC) + timedelta(minutes=37 * n)
        script = SessionScript(f"bench-{n % 3}", at=at, positions=positions)
        script.start(agent_id=f"agent-{n % 7}", contact={"email": f"c{n % 500}@example.com"})
        for turn in range(3):
            script.say(f"question {turn}").reply(f"answer {turn}")
        script.say("thanks")
        script.record(
            "session.analyzed",
            is_lead=n % 2 == 0,
            auto_assessment="Yes-A" if n % 3 else "No",
            conversation_quality=1 + n % 5,
        )
        script.close()
        pending.extend(script.events)
        if len(pending) >= APPEND_CHUNK:
            stored += len(store.append(pending))
            pending = []
    if pending:
        stored += len(store.append(pending))
    return stored


def own_cpu_seconds() -> float:
    """This process's CPU seconds and its ended children's (the rebuild's partitions)."""
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return time.process_time() + children.ru_utime + children.ru_stime


def measure_rebuild(
    url: str, batch_size: int, partitions: int = DEFAULT_PARTITIONS
) -> tuple[int, float, float, float]:
    """Events rebuilt, wall seconds, CPU seconds of the rebuild's own processes (the driver
    and its partitions: on a shared machine a steadier measure than the wall clock) and of
    PostgreSQL meanwhile."""
    store = EventStore(url, pool_size=2, group_commit=False)
    pool = create_pool(url, size=3, name="bench-rebuild")
    try:
        rebuild = Rebuild(pool, store, batch_size=batch_size, partitions=partitions)
        tune_garbage_collection()  # as `ledger rebuild` does
        started, cpu, server_cpu = time.perf_counter(), own_cpu_seconds(), postgres_cpu_seconds()
        done = rebuild.run(rebuild.start("session_list", None))
        return (
            done.events_done,
            time.perf_counter() - started,
            own_cpu_seconds() - cpu,
            postgres_cpu_seconds() - server_cpu,
        )
    finally:
        pool.close()
        store.close()


def measure_copy(url: str, rows: int) -> float:
    """COPY of ``rows`` narrow rows into a fresh table: the floor any bulk write sits on."""
    with psycopg.connect(url) as conn:
        conn.execute("CREATE TABLE bench_copy (session_id uuid, position bigint, agent text)")
        started = time.perf_counter()
        with conn.cursor() as cur, cur.copy("COPY bench_copy FROM STDIN") as copy:
            for n in range(rows):
                copy.write_row((uuid.uuid4(), n, f"agent-{n % 7}"))
        conn.commit()
        return time.perf_counter() - started


def run(url: str, events: int, batch_size: int, partitions: int = DEFAULT_PARTITIONS) -> dict:
    store = EventStore(url, pool_size=2, group_commit=False)
    store.create_schema()
    apply_schema(url, read_model_schema())
    started = time.perf_counter()
    stored = generate(store, events)
    store.close()
    print(f"generated {stored:,} events in {time.perf_counter() - started:.1f}s")
    done, seconds, cpu_seconds, server_cpu_seconds = measure_rebuild(url, batch_size, partitions)
    copy_seconds = measure_copy(url, done)
    result = {
        "events": done,
        "rebuild_seconds": round(seconds, 2),
        "rebuild_events_per_s": round(done / seconds),
        "rebuild_cpu_seconds": round(cpu_seconds, 2),
        "postgres_cpu_seconds": round(server_cpu_seconds, 2),
        "copy_rows_per_s": round(done / copy_seconds),
        "batch_size": batch_size,
        "partitions": partitions,
    }
    print(
        f"rebuild session_list: {done:,} events in {seconds:.1f}s = {done / seconds:,.0f}/s"
        f" (CPU: rebuild processes {cpu_seconds / done * 1e6:.0f} µs/event,"
        f" PostgreSQL {server_cpu_seconds / done * 1e6:.0f} µs/event)"
    )
    print(
        f"COPY raw limit:       {done:,} rows in {copy_seconds:.1f}s = {done / copy_seconds:,.0f}/s"
    )
    print(orjson.dumps(result).decode())
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--batch-size", type=int, default=DEFAULT_BATCH_SIZE)
    parser.add_argument("--partitions", type=int, default=DEFAULT_PARTITIONS)
    args = parser.parse_args()
    server = os.environ.get("LEDGER_DATABASE_URL")
    if server:
        url = server_url(server, f"bench_rebuild_{uuid.uuid4().hex[:8]}")
        create_database(url)
        try:
            run(url, args.events, args.batch_size, args.partitions)
        finally:
            drop_database(url)
        return
    with tempfile.TemporaryDirectory(prefix="bench-rebuild-") as scratch:
        embedded = EmbeddedPostgres(Path(scratch), dbname="bench")
        embedded.start()
        try:
            run(embedded.url, args.events, args.batch_size, args.partitions)
        finally:
            embedded.stop()


if __name__ == "__main__":
    main()
