"""Fixtures that start real parts: PostgreSQL (embedded, or a fresh database on the server
``LEDGER_DATABASE_URL`` names) and the whole stack (broker, relay, worker, API)."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from api.auth import Role
from api.cli.keys import issue_key
from infra.database import create_database, drop_database, server_url
from infra.embedded import EmbeddedPostgres
from infra.event_store import EventStore
from infra.settings import Settings
from infra.stack import Stack
from tests.helpers import OTHER_WORKSPACE, StackClient

SERVER_URL = os.environ.get("LEDGER_DATABASE_URL", "")
BROKER = os.environ.get("LEDGER_KAFKA_BOOTSTRAP", "")


def pytest_report_header() -> list[str]:
    return [
        f"PostgreSQL: {'server ' + SERVER_URL if SERVER_URL else 'embedded'}",
        f"Kafka: {'cluster ' + BROKER if BROKER else 'embedded Tansu'}",
    ]


@pytest.fixture(scope="session")
def postgres_server(tmp_path_factory) -> Iterator[str]:
    """URL of a server to create test databases on."""
    if SERVER_URL:
        yield server_url(SERVER_URL)
        return
    server = EmbeddedPostgres(tmp_path_factory.mktemp("pg"), dbname="postgres")
    server.start()
    yield server.url
    server.stop()


@pytest.fixture(scope="session")
def new_database(postgres_server):
    """Factory of fresh, empty databases on the test server, dropped at the end."""
    created: list[str] = []

    def make() -> str:
        url = server_url(postgres_server, f"ledger_test_{uuid.uuid4().hex[:12]}")
        create_database(url)
        created.append(url)
        return url

    yield make
    for url in created:
        drop_database(url)


@pytest.fixture
def database_url(new_database) -> str:
    return new_database()


@pytest.fixture
def store(database_url) -> Iterator[EventStore]:
    event_store = EventStore(database_url, pool_size=4)
    event_store.create_schema()
    yield event_store
    event_store.close()


def stack_settings(database_url: str, **overrides) -> Settings:
    """Settings for a test stack: its own database, topic and consumer group."""
    suffix = uuid.uuid4().hex[:8]
    values = {
        "database_url": database_url,
        "kafka_bootstrap": BROKER,
        "api_port": 0,
        "topic": f"ledger.events.{suffix}" if BROKER else "ledger.events",
        "worker_group": f"ledger-projections-{suffix}",
        "relay_idle_wait": 0.2,
        **overrides,
    }
    return Settings(**values)


def start_stack(database_url: str, data_dir: Path, **overrides) -> Stack:
    """A started stack whose ``api_keys`` (see ``issue_test_keys``) StackClient sends."""
    settings = stack_settings(database_url, **overrides)
    stack = Stack(settings, data_dir=data_dir, env=_env_for(settings))
    stack.start()
    stack.api_keys = issue_test_keys(stack.endpoints.database_url, settings.workspace)
    return stack


def issue_test_keys(database_url: str, workspace: str) -> dict[str, str]:
    """A key per role in the stack's workspace, and an admin key of another workspace, issued
    the way `ledger keys create` issues them."""
    keys = {
        role.value: issue_key(database_url, workspace, role, f"test {role.value}").secret
        for role in Role
    }
    keys[OTHER_WORKSPACE] = issue_key(
        database_url, OTHER_WORKSPACE, Role.admin, "other workspace's admin"
    ).secret
    return keys


def _env_for(settings: Settings) -> dict[str, str]:
    return {
        "LEDGER_TOPIC": settings.topic,
        "LEDGER_WORKER_GROUP": settings.worker_group,
        "LEDGER_RELAY_IDLE_WAIT": str(settings.relay_idle_wait),
        "LEDGER_WORKSPACE": settings.workspace,
    }


@pytest.fixture(scope="module")
def stack(new_database, tmp_path_factory) -> Iterator[Stack]:
    """The real stack, shared by the tests of one module (each uses its own sessions)."""
    running = start_stack(new_database(), tmp_path_factory.mktemp("stack"))
    yield running
    running.stop()


@pytest.fixture
def client(stack) -> Iterator[StackClient]:
    with StackClient(stack) as api:
        yield api
