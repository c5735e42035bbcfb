"""Appends through the command service (no HTTP): events/s with N concurrent callers, each
appending one event per call to its own session, on a scratch database.

    python -m bench.append_throughput --callers 1 32 --seconds 5
"""

from __future__ import annotations

import argparse
import tempfile
import threading
import time
import uuid
from pathlib import Path

from api.commands import Caller, NewEvent, SessionCommands
from domain.envelope import SYSTEM_ACTOR
from domain.events import MessageRecorded, SessionStarted
from infra.database import create_database, drop_database, server_url
from infra.embedded import EmbeddedPostgres
from infra.event_store import EventStore

CALLER = Caller(workspace_id="bench", actor=SYSTEM_ACTOR)


def measure(store: EventStore, callers: int, seconds: float) -> float:
    commands = SessionCommands(store, max_retries=50)
    sessions = []
    for _ in range(callers):
        session_id = uuid.uuid4()
        commands.start(session_id, NewEvent(SessionStarted(agent_id="a", channel="web")), CALLER)
        sessions.append(session_id)
    counts = [0] * callers
    stop = threading.Event()

    def caller(index: int) -> None:
        while not stop.is_set():
            message = MessageRecorded(
                message_id=uuid.uuid4().hex, author_role="customer", text="hello " * 10
            )
            commands.append(sessions[index], [NewEvent(message)], CALLER)
            counts[index] += 1

    threads = [threading.Thread(target=caller, args=(i,)) for i in range(callers)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    time.sleep(seconds)
    stop.set()
    for thread in threads:
        thread.join()
    return sum(counts) / (time.perf_counter() - started)


def scratch_database(server: str | None) -> tuple[str, object]:
    if server:
        url = server_url(server, f"bench_{uuid.uuid4().hex[:8]}")
        create_database(url)
        return url, lambda: drop_database(url)
    postgres = EmbeddedPostgres(Path(tempfile.mkdtemp()), dbname="bench")
    return postgres.start(), postgres.stop


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--callers", type=int, nargs="+", default=[1, 32])
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--server", help="PostgreSQL URL to create a scratch database on")
    parser.add_argument("--no-group-commit", action="store_true")
    args = parser.parse_args()
    url, cleanup = scratch_database(args.server)
    try:
        store = EventStore(url, pool_size=40, group_commit=not args.no_group_commit)
        store.create_schema()
        for callers in args.callers:
            rate = measure(store, callers, args.seconds)
            print(f"{callers:>3} caller(s): {rate:8.0f} events/s")
        store.close()
    finally:
        cleanup()


if __name__ == "__main__":
    main()
