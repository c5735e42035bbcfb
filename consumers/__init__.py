"""Processes that follow the ledger: the Kafka relay and the faust stream processors."""
