"""The ``ledger`` command. Each module of this package registers its own subcommands.

Bad input is a message on stderr and exit code 2, never a traceback.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from importlib import import_module

import psycopg
from eventsourcing.persistence import OperationalError as StoreUnavailable

from domain.errors import DomainError
from infra.logging import configure_logging
from infra.settings import Settings, get_settings

USAGE_ERROR = 2
# Modules that define ``register(subparsers)``; each sets ``handler(settings, args) -> int``.
COMMAND_MODULES = (
    "api.cli.services",
    "api.cli.ledger_ops",
    "api.cli.importing",
    "api.cli.keys",
    "api.cli.rebuild",
)


class UsageError(Exception):
    """Wrong or missing input from the operator (exit code 2)."""


class ArgumentParser(argparse.ArgumentParser):
    def error(self, message: str):  # argparse's own usage errors: message and exit code 2
        self.print_usage(sys.stderr)
        print(f"{self.prog}: {message}", file=sys.stderr)
        sys.exit(USAGE_ERROR)


def positive(text: str) -> int:
    """An argparse type: a bad value is a usage error (exit 2) naming the option."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{value} is not 1 or more")
    return value


def require(value: str, variable: str) -> str:
    if not value:
        raise UsageError(f"{variable} is not set (use `ledger up` to run the embedded defaults)")
    return value


def database_url(settings: Settings) -> str:
    """LEDGER_DATABASE_URL, else the database of the stack `ledger up` is running here."""
    if settings.database_url:
        return settings.database_url
    from infra.stack import running_endpoints

    endpoints = running_endpoints(settings.data_dir)
    if endpoints is None:
        raise UsageError(
            "no database: set LEDGER_DATABASE_URL, or run this while `ledger up` is running"
        )
    return endpoints.database_url


def stop_on_signals() -> threading.Event:
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    return stop


def build_parser() -> argparse.ArgumentParser:
    parser = ArgumentParser(prog="ledger", description="Conversation Ledger")
    subparsers = parser.add_subparsers(
        dest="command", required=True, metavar="COMMAND", parser_class=ArgumentParser
    )
    for module in COMMAND_MODULES:
        import_module(module).register(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    settings = get_settings()
    configure_logging(settings.log_level, settings.log_json)
    try:
        return args.handler(settings, args)
    except (UsageError, DomainError, ValueError) as error:
        print(f"ledger {args.command}: {error}", file=sys.stderr)
        return USAGE_ERROR
    except (psycopg.OperationalError, StoreUnavailable) as error:
        reason = str(error).strip().splitlines()[0] if str(error).strip() else repr(error)
        print(
            f"ledger {args.command}: cannot reach the database ({reason}); is LEDGER_DATABASE_URL"
            " right, or is `ledger up` still running?",
            file=sys.stderr,
        )
        return USAGE_ERROR
