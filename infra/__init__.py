"""Adapters to the outside world: settings, logging, PostgreSQL, Kafka, embedded services."""
