"""Integration tests of the verifiable ledger (SQLite and PostgreSQL)."""
