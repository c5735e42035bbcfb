"""The ledger's faust apps declare no tables, so their table manager starts recovery at once
instead of sleeping a second for tables that could still be declared."""

import asyncio

from consumers.worker import TablelessManager, create_faust_app
from infra.settings import Settings


def app():
    return create_faust_app(Settings(), bootstrap="127.0.0.1:9", group="test-tableless")


class Calls:
    def __init__(self) -> None:
        self.names: list[str] = []

    def record(self, name: str):
        async def call(*_args) -> None:
            self.names.append(name)

        return call


def started(tables) -> list[str]:
    calls = Calls()
    tables.sleep = calls.record("sleep")
    tables._update_channels = calls.record("update channels")
    tables.recovery.start = calls.record("recovery")
    asyncio.run(tables.on_start())
    return calls.names


def test_the_worker_app_uses_the_tableless_manager():
    assert isinstance(app().tables, TablelessManager)


def test_with_no_tables_recovery_starts_without_the_sleep():
    assert started(app().tables) == ["update channels", "recovery"]


def test_with_a_table_declared_it_waits_as_faust_does():
    faust_app = app()
    faust_app.Table("declared-late", default=int)
    assert started(faust_app.tables)[0] == "sleep"
