"""Importers that turn outside data sets into ledger events through ``SessionCommands``.

Each source has a pure mapping module (a record in, ``NewEvent`` items out) and shares the
runner in ``api.importers.run``; ``api.importers.demo`` loads the demo data on ``ledger up``.
"""
