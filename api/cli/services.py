"""`ledger up` and the services it supervises: `api`, `relay`, `worker`."""

from __future__ import annotations

import argparse
import signal
import sys

from api.cli import require, stop_on_signals
from api.cli.keys import DEMO_KEY_FILE, ensure_demo_admin_key
from infra.processes import StartupFailed, exit_with_parent
from infra.settings import Settings, get_settings


def cmd_up(settings: Settings, _args: argparse.Namespace) -> int:
    from api.importers.demo import load_demo_data_if_empty
    from infra.stack import Stack

    stack = Stack(settings)
    print("Starting Conversation Ledger…", flush=True)
    try:
        endpoints = stack.start()
    except StartupFailed as error:
        print(f"ledger up: {error}", file=sys.stderr)
        return 1
    stop = stop_on_signals()
    try:
        demo_key = ensure_demo_admin_key(settings, endpoints.database_url, stack.data_dir)
        _print_endpoints(stack, endpoints, demo_key)
        load_demo_data_if_empty(settings, endpoints.database_url, stop=stop)
        code = stack.supervise(stop)
    finally:
        print("\nStopping…", flush=True)
        stack.stop()
    return code


def _print_endpoints(stack, endpoints, demo_key: str | None = None) -> None:
    rows = [
        ("API", endpoints.api_url, f"{endpoints.api_url}/docs"),
        ("PostgreSQL", endpoints.database_url, "embedded" if stack.postgres else "external"),
        ("Kafka", endpoints.bootstrap, "embedded Tansu" if stack.broker else "external"),
        ("Logs", str(stack.data_dir / "logs"), "relay.log, worker.log, api.log"),
    ]
    if demo_key:  # issued just now, on a workspace without keys: shown this once
        rows.append(("Admin key", demo_key, f"also in {stack.data_dir / DEMO_KEY_FILE}"))
    width = max(len(r[1]) for r in rows)
    for name, where, note in rows:
        print(f"  {name:<11} {where:<{width}}  {note}")
    print("Ready. Press Ctrl-C to stop.", flush=True)


def cmd_api(settings: Settings, _args: argparse.Namespace) -> int:
    import uvicorn

    from api.http_protocol import CoalescingHttpToolsProtocol

    require(settings.database_url, "LEDGER_DATABASE_URL")
    # By import path, so that each of several worker processes builds its own app.
    uvicorn.run(
        f"{__name__}:app_from_environment",
        factory=True,
        http=CoalescingHttpToolsProtocol,
        host=settings.api_host,
        port=settings.api_port,
        workers=settings.api_workers,
        log_level="warning",
        access_log=False,
    )
    return 0


def app_from_environment():
    """The API app of one (worker) process, configured from the LEDGER_* environment."""
    from api.app import create_app

    settings = get_settings()
    from infra.gc_tuning import tune_garbage_collection

    if settings.api_workers > 1:
        # A worker whose supervisor is killed outright would keep serving the port and block
        # the API's restart.
        exit_with_parent(signal.SIGTERM)
    app = create_app(settings, require(settings.database_url, "LEDGER_DATABASE_URL"))
    tune_garbage_collection()
    return app


def cmd_relay(settings: Settings, _args: argparse.Namespace) -> int:
    from consumers.relay import Relay
    from infra.database import create_pool
    from infra.event_store import EventStore
    from infra.gc_tuning import tune_garbage_collection

    url = require(settings.database_url, "LEDGER_DATABASE_URL")
    bootstrap = require(settings.kafka_bootstrap, "LEDGER_KAFKA_BOOTSTRAP")
    store = EventStore(url, pool_size=2)
    store.create_schema()
    pool = create_pool(url, size=2, name="relay")
    relay = Relay(
        store,
        pool,
        bootstrap=bootstrap,
        topic=settings.topic,
        partitions=settings.topic_partitions,
        batch_size=settings.relay_batch_size,
        idle_wait=settings.relay_idle_wait,
        linger=settings.relay_linger,
    )
    tune_garbage_collection()
    relay.run(stop_on_signals())
    return 0


def cmd_worker(settings: Settings, _args: argparse.Namespace) -> int:
    from consumers.worker import run_worker

    url = require(settings.database_url, "LEDGER_DATABASE_URL")
    bootstrap = require(settings.kafka_bootstrap, "LEDGER_KAFKA_BOOTSTRAP")
    run_worker(settings, bootstrap=bootstrap, database_url=url)
    return 0


def register(subparsers) -> None:
    for name, help_text, handler in (
        ("up", "start the whole stack (embedded defaults) and supervise it", cmd_up),
        ("api", "serve the HTTP API", cmd_api),
        ("relay", "publish the event store's log to Kafka", cmd_relay),
        ("worker", "run the stream processor that maintains the read models", cmd_worker),
    ):
        subparsers.add_parser(name, help=help_text, description=help_text).set_defaults(
            handler=handler
        )
