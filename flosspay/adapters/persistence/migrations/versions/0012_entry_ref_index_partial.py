"""``ix_ledger_entries_ref_entry_id`` holds only entries that reference another (ADR 0019).

Every payment's journal entry has ``ref_entry_id`` NULL, and a btree indexes NULLs: each completion
paid one index insertion (and its WAL) for a key no query asks for. Lookups are by a given entry id
(``ref_entry_id = :id`` implies NOT NULL, so the partial index serves them), and the foreign key's
referencing side needs no index for NULLs. Reversals keep their unique partial index.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-01
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012"
down_revision: str | Sequence[str] | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

INDEX = "ix_ledger_entries_ref_entry_id"
REFERENCING = sa.text("ref_entry_id IS NOT NULL")


def upgrade() -> None:
    op.drop_index(INDEX, "ledger_entries")
    op.create_index(INDEX, "ledger_entries", ["ref_entry_id"], postgresql_where=REFERENCING, sqlite_where=REFERENCING)


def downgrade() -> None:
    op.drop_index(INDEX, "ledger_entries")
    op.create_index(INDEX, "ledger_entries", ["ref_entry_id"])
