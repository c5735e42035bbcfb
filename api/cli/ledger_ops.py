"""Operating the ledger: `replay` a session exactly, `verify` the hash chains, `status` of
the read models, and `parked` events (list, retry)."""

from __future__ import annotations

import argparse
import sys
from datetime import datetime
from uuid import UUID

import orjson

from api.cli import UsageError, database_url, positive
from domain.envelope import Envelope
from domain.replay import history_as_of, replay
from domain.session import STREAM_TYPE as SESSION_STREAM
from infra.event_store import EventStore
from infra.settings import Settings

BREACHES_FOUND = 1
STILL_PARKED = 1


def _uuid(value: str) -> UUID:
    try:
        return UUID(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a session id: {value!r}") from None


def _time(value: str) -> datetime:
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an ISO 8601 time: {value!r}") from None
    if moment.tzinfo is None:
        raise argparse.ArgumentTypeError(f"{value!r} needs a time zone, e.g. 2026-03-02T09:00Z")
    return moment


def cmd_replay(settings: Settings, args: argparse.Namespace) -> int:
    store = EventStore(database_url(settings), pool_size=1)
    try:
        events = store.read_stream(args.session)
    finally:
        store.close()
    if not events or events[0].stream_type != SESSION_STREAM:
        raise UsageError(f"session {args.session} not found")
    prefix = history_as_of(events, version=args.as_of_version, at=args.as_of)
    session = replay(args.session, prefix)
    if args.json:
        document = {
            "session_id": str(args.session),
            "version": session.version,
            "head_version": events[-1].version,
            "events": [e.model_dump(mode="json") for e in prefix],
            "state": session.state.model_dump(mode="json"),
        }
        sys.stdout.buffer.write(orjson.dumps(document, option=orjson.OPT_INDENT_2) + b"\n")
        return 0
    for event in prefix:
        print(_timeline_line(event))
    state = session.state
    print(
        f"-- state at version {session.version} of {events[-1].version}: status {state.status},"
        f" {state.message_count} message(s), assessment {state.effective_assessment or '-'}"
    )
    return 0


def _timeline_line(event: Envelope) -> str:
    payload = event.payload
    detail = payload.get("text") or payload.get("reason") or payload.get("agent_id") or ""
    who = payload.get("author_role") or event.actor.kind
    return (
        f"v{event.version:<4} {event.occurred_at:%Y-%m-%d %H:%M:%S} {event.type:<34}"
        f" {who:<13} {str(detail)[:80]}"
    )


def cmd_verify(settings: Settings, args: argparse.Namespace) -> int:
    from infra.verification import verify_ledger

    report = verify_ledger(database_url(settings), stream_id=args.session)
    if args.session and not report.streams:
        raise UsageError(f"session {args.session} not found")
    print(
        f"checked {report.events} event(s) in {report.streams} stream(s) and"
        f" {report.checkpoints} global checkpoint(s) in {report.seconds:.2f}s"
    )
    if report.chain_attested_through < report.head:
        print(
            f"the global chain is attested through position {report.chain_attested_through}"
            f" of {report.head}: the newer events are checked in their streams only, until"
            " the relay publishes them"
        )
    for breach in report.breaches:
        where = f"stream {breach.stream_id}" if breach.stream_id else "global chain"
        at = f" at version {breach.version}" if breach.version else ""
        print(f"BROKEN {where}{at}: {breach.reason}")
    if not report.ok:
        print(f"{len(report.breaches)} breach(es) found")
    elif args.session:
        print(f"session {args.session} intact, and the global chain")
    else:
        print("ledger intact")
    return 0 if report.ok else BREACHES_FOUND


def cmd_status(settings: Settings, _args: argparse.Namespace) -> int:
    import psycopg

    from infra.database import server_warnings
    from projections.generations import live_keys
    from projections.registry import all_projections
    from projections.status import read_model_status

    url = database_url(settings)
    store = EventStore(url, pool_size=1)
    try:
        head = store.max_position()
    finally:
        store.close()
    with psycopg.connect(url) as conn:
        # A rebuilt read model reports the generation the API reads.
        names = live_keys(conn, [p.name for p in all_projections()])
        statuses = read_model_status(conn, list(names), head)
        warnings = server_warnings(conn)
    print(f"ledger position {head}")
    print(f"{'read model':<20} {'position':>10} {'lag':>8} {'applied':>10} {'parked':>7}  updated")
    for s in statuses:
        updated = f"{s.updated_at:%Y-%m-%d %H:%M:%S}" if s.updated_at else "never"
        print(
            f"{names[s.projection]:<20} {s.position:>10} {s.lag:>8} {s.events_applied:>10}"
            f" {s.parked:>7}  {updated}"
        )
    for warning in warnings:
        print(f"warning: {warning}")
    return 0


def cmd_parked_list(settings: Settings, args: argparse.Namespace) -> int:
    import psycopg

    from projections.status import parked_events

    with psycopg.connect(database_url(settings)) as conn:
        rows = parked_events(conn, projection=args.projection, limit=args.limit)
    for row in rows:
        where = f"{row.stream_id} v{row.version}" if row.stream_id else f"position {row.position}"
        print(f"#{row.id} {row.projection} {where} {row.event_type or '?'}: {_gist(row.error)}")
    print(f"{len(rows)} parked event(s)")
    return 0


def _gist(error: str) -> str:
    """The line of a stored error that says what went wrong: the exception's own, not a
    pointer to documentation (pydantic ends its messages with one)."""
    lines = [line.strip() for line in error.strip().splitlines()]
    telling = [line for line in lines if line and not line.startswith("For further information")]
    return telling[-1] if telling else ""


def cmd_parked_retry(settings: Settings, args: argparse.Namespace) -> int:
    from infra.database import create_pool
    from projections.engine import ProjectionEngine
    from projections.registry import streaming_projections

    url = database_url(settings)
    store, pool = EventStore(url, pool_size=1), create_pool(url, size=2, name="parked-retry")
    try:
        # What the worker feeds: every live and shadow generation, under its own rules.
        engine = ProjectionEngine(pool, streaming_projections(store), store)
        applied, still = engine.retry_parked(args.projection)
    finally:
        pool.close()
        store.close()
    print(f"applied {applied}, still parked {still}")
    return 0 if still == 0 else STILL_PARKED


def register(subparsers) -> None:
    replay_parser = subparsers.add_parser(
        "replay", help="show a session's exact history and its state at any point"
    )
    replay_parser.add_argument("session", type=_uuid)
    point = replay_parser.add_mutually_exclusive_group()
    point.add_argument("--as-of-version", type=int, metavar="N")
    point.add_argument("--as-of", type=_time, metavar="TIME", help="ISO 8601 with time zone")
    replay_parser.add_argument("--json", action="store_true", help="events and state as JSON")
    replay_parser.set_defaults(handler=cmd_replay)

    verify_parser = subparsers.add_parser(
        "verify", help="recompute the hash chains; exit 1 when any is broken"
    )
    verify_parser.add_argument("--session", type=_uuid, help="verify one session only")
    verify_parser.set_defaults(handler=cmd_verify)

    subparsers.add_parser(
        "status", help="each read model's position, lag behind the ledger and parked events"
    ).set_defaults(handler=cmd_status)

    parked = subparsers.add_parser("parked", help="events a read model could not apply")
    parked_commands = parked.add_subparsers(dest="parked_command", required=True)
    listing = parked_commands.add_parser("list", help="list open parked events")
    listing.add_argument("--projection")
    listing.add_argument("--limit", type=positive, default=100)
    listing.set_defaults(handler=cmd_parked_list)
    retrying = parked_commands.add_parser(
        "retry",
        help="apply parked events again",
        epilog="exit status: 0 none left parked; 1 some still fail (listed by `parked list`)",
    )
    retrying.add_argument("--projection")
    retrying.set_defaults(handler=cmd_parked_retry)
