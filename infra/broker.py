"""Kafka adapter (kafka-python): topic administration and the relay's producer."""

from __future__ import annotations

import contextlib

from kafka import KafkaProducer
from kafka.admin import KafkaAdminClient, NewTopic
from kafka.errors import TopicAlreadyExistsError

POSITION_HEADER = "ledger-position"
TYPE_HEADER = "ledger-type"


def bootstrap_servers(bootstrap: str) -> list[str]:
    return [host.strip() for host in bootstrap.split(",") if host.strip()]


class BrokerAdmin:
    def __init__(self, bootstrap: str) -> None:
        self.client = KafkaAdminClient(
            bootstrap_servers=bootstrap_servers(bootstrap), client_id="ledger-admin"
        )

    def cluster_id(self) -> str:
        return str(self.client.describe_cluster()["cluster_id"])

    def topic_exists(self, topic: str) -> bool:
        return topic in self.client.list_topics()

    def ensure_topic(self, topic: str, partitions: int, replication: int = 1) -> None:
        if self.topic_exists(topic):
            return
        with contextlib.suppress(TopicAlreadyExistsError):
            self.client.create_topics([NewTopic(topic, partitions, replication)])

    def close(self) -> None:
        self.client.close()


def ensure_topic(bootstrap: str, topic: str, partitions: int) -> None:
    admin = BrokerAdmin(bootstrap)
    try:
        admin.ensure_topic(topic, partitions)
    finally:
        admin.close()


def create_producer(bootstrap: str) -> KafkaProducer:
    """Idempotent, acks=all: a retried send is written once and per-partition order holds."""
    return KafkaProducer(
        bootstrap_servers=bootstrap_servers(bootstrap),
        client_id="ledger-relay",
        acks="all",
        enable_idempotence=True,
        max_in_flight_requests_per_connection=5,
        linger_ms=5,
        batch_size=256 * 1024,
        retries=2**31 - 1,
        delivery_timeout_ms=30_000,
        request_timeout_ms=10_000,
    )
