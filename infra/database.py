"""PostgreSQL plumbing: URLs, connection pools and the schema (created idempotently)."""

from __future__ import annotations

from contextlib import contextmanager, nullcontext
from importlib import resources
from urllib.parse import unquote, urlparse

import psycopg
from psycopg import sql
from psycopg_pool import ConnectionPool

from infra.logging import get_logger

log = get_logger("infra.database")
# Any constant shared by every process that migrates: serialises concurrent schema creation.
SCHEMA_LOCK_KEY = 7_402_117_301


def datastore_kwargs(url: str) -> dict:
    """The parts of a PostgreSQL URL, as eventsourcing's PostgresDatastore takes them."""
    parsed = urlparse(url)
    if parsed.scheme not in ("postgresql", "postgres"):
        raise ValueError(f"not a PostgreSQL URL: {url!r}")
    return {
        "dbname": unquote(parsed.path.lstrip("/")) or "postgres",
        "host": parsed.hostname or "127.0.0.1",
        "port": parsed.port or 5432,
        "user": unquote(parsed.username or "postgres"),
        "password": unquote(parsed.password or ""),
    }


def server_url(url: str, dbname: str = "postgres") -> str:
    """The same server, another database (to create or drop databases)."""
    return urlparse(url)._replace(path=f"/{dbname}").geturl()


def create_database(url: str) -> None:
    name = datastore_kwargs(url)["dbname"]
    with psycopg.connect(server_url(url), autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname=%s", (name,)).fetchone():
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))


def drop_database(url: str) -> None:
    name = datastore_kwargs(url)["dbname"]
    with psycopg.connect(server_url(url), autocommit=True) as conn:
        conn.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )


def create_pool(url: str, *, size: int = 4, name: str = "ledger") -> ConnectionPool:
    pool = ConnectionPool(
        url, min_size=1, max_size=size, name=name, open=False, kwargs={"autocommit": True}
    )
    pool.open(wait=True, timeout=30)
    return pool


def sql_file(package: str, name: str) -> str:
    return resources.files(package).joinpath("sql", name).read_text()


@contextmanager
def schema_lock(url: str):
    """Hold the schema advisory lock, so processes starting together don't race on DDL."""
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("SELECT pg_advisory_lock(%s)", (SCHEMA_LOCK_KEY,))
        try:
            yield
        finally:
            conn.execute("SELECT pg_advisory_unlock(%s)", (SCHEMA_LOCK_KEY,))


def apply_schema(url: str, scripts: list[str], *, locked: bool = False) -> None:
    """Run idempotent DDL scripts (under the schema lock unless the caller holds it)."""
    with (
        nullcontext() if locked else schema_lock(url),
        psycopg.connect(url, autocommit=True) as conn,
    ):
        for script in scripts:
            conn.execute(script)


# Read models upsert their rows on every event, so each event leaves dead row versions
# behind, and their queries are planned from statistics that only ANALYZE gathers.
_MAINTENANCE_SETTINGS = ("autovacuum", "track_counts")


def maintenance_warnings(settings: dict[str, str]) -> list[str]:
    """What is wrong for the ledger in a server's maintenance settings (``pg_settings``)."""
    off = [name for name in _MAINTENANCE_SETTINGS if settings.get(name, "on") != "on"]
    if not off:
        return []
    return [
        f"{' and '.join(off)} off on the PostgreSQL server: read-model tables are never vacuumed"
        " nor analysed, so they bloat with every upsert, their queries slow down and the read"
        " models fall behind; turn it on, or VACUUM ANALYZE them on a schedule"
    ]


def server_warnings(conn: psycopg.Connection) -> list[str]:
    rows = conn.execute(
        "SELECT name, setting FROM pg_settings WHERE name = ANY(%s)", (list(_MAINTENANCE_SETTINGS),)
    ).fetchall()
    return maintenance_warnings(dict(rows))


def warn_about_server(url: str) -> None:
    """Log what ``server_warnings`` finds: services call it once as they start."""
    with psycopg.connect(url, autocommit=True) as conn:
        for warning in server_warnings(conn):
            log.warning("database server", problem=warning)
