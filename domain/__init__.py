"""The pure core: event envelope, event catalog, aggregates and rules. No I/O here."""
