"""The ledger's front doors: the HTTP API, the ``ledger`` CLI, and the command service both use."""
