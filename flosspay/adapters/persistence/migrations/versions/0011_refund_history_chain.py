"""Refund history in the hash chain (a link kind ``refund_history``), and chained checkpoints.

``ledger_chain.refund_id`` (with ``history_seq``, unique together) names the refund history row a
link holds; ``ledger_chain_queue.refund_id`` does the same on SQLite, where a trigger on
``refund_history`` queues each new row as the one on ``payment_history`` does (migration 0002).
PostgreSQL needs no trigger: ``refund_history.tx`` (migration 0010) orders the rows for the chainer.

The CHECK on ``ledger_chain.kind`` is widened in place on SQLite through ``writable_schema`` (as in
0010): rebuilding the table would drop its append-only triggers.

``ledger_checkpoints.prev_hash`` is the digest of the checkpoint before (ledger format version 2,
ADR 0014); NULL for checkpoints stored before, which were signed without one.

Refund history rows written before this migration (SQLite) are queued now in their original order;
refund entries still waiting in the queue are moved behind them, so a refund's SUCCEEDED row is
always chained before its entry (docs/ledger.md §5 requires that order). On PostgreSQL the chainer
finds such rows by ``tx`` on its own.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-01
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | Sequence[str] | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

OLD_KINDS = "kind IN ('history', 'entry')"
NEW_KINDS = "kind IN ('history', 'entry', 'refund_history')"
QUEUE_TRIGGER = (
    "CREATE TRIGGER refund_history_chain_queue AFTER INSERT ON refund_history BEGIN "
    "INSERT INTO ledger_chain_queue (kind, refund_id, history_seq) VALUES ('refund_history', NEW.refund_id, NEW.seq); "
    "END"
)


def _sqlite() -> bool:
    return op.get_bind().dialect.name == "sqlite"


def _sqlite_replace_in_schema(table: str, old: str, new: str) -> None:
    """Rewrite ``table``'s stored CREATE statement (a widened CHECK only: stored rows stay valid)."""
    bind = op.get_bind()
    sql = bind.exec_driver_sql("SELECT sql FROM sqlite_master WHERE type = 'table' AND name = ?", (table,)).scalar_one()
    if old not in sql:
        raise RuntimeError(f"{table}: expected constraint {old!r} not found")
    version = bind.exec_driver_sql("PRAGMA schema_version").scalar_one()
    bind.exec_driver_sql("PRAGMA writable_schema = ON")
    bind.exec_driver_sql(
        "UPDATE sqlite_master SET sql = ? WHERE type = 'table' AND name = ?", (sql.replace(old, new), table)
    )
    bind.exec_driver_sql(f"PRAGMA schema_version = {int(version) + 1}")
    bind.exec_driver_sql("PRAGMA writable_schema = OFF")


def upgrade() -> None:
    if _sqlite():
        # Plain ALTERs (a batch copy of ledger_chain would lose its append-only triggers).
        op.execute("ALTER TABLE ledger_chain ADD COLUMN refund_id CHAR(32)")
        op.execute("ALTER TABLE ledger_chain_queue ADD COLUMN refund_id CHAR(32)")
        _sqlite_replace_in_schema("ledger_chain", OLD_KINDS, NEW_KINDS)
    else:
        op.add_column("ledger_chain", sa.Column("refund_id", sa.Uuid(), nullable=True))
        op.add_column("ledger_chain_queue", sa.Column("refund_id", sa.Uuid(), nullable=True))
        op.drop_constraint(op.f("ck_ledger_chain_kind_known"), "ledger_chain", type_="check")
        op.create_check_constraint("kind_known", "ledger_chain", NEW_KINDS)
    op.create_index("uq_ledger_chain_refund_history", "ledger_chain", ["refund_id", "history_seq"], unique=True)
    # A plain ADD COLUMN on both backends (the table keeps its append-only triggers).
    op.add_column("ledger_checkpoints", sa.Column("prev_hash", sa.LargeBinary(32), nullable=True))
    if _sqlite():
        op.execute(
            "INSERT INTO ledger_chain_queue (kind, refund_id, history_seq) "
            "SELECT 'refund_history', refund_id, seq FROM refund_history ORDER BY rowid"
        )
        op.execute(
            "INSERT INTO ledger_chain_queue (kind, entry_id) SELECT q.kind, q.entry_id FROM ledger_chain_queue q "
            "JOIN ledger_entries e ON e.id = q.entry_id WHERE q.kind = 'entry' AND e.kind = 'refund' ORDER BY q.id"
        )
        op.execute(
            "DELETE FROM ledger_chain_queue WHERE id IN (SELECT MIN(id) FROM ledger_chain_queue "
            "WHERE kind = 'entry' AND entry_id IN (SELECT id FROM ledger_entries WHERE kind = 'refund') "
            "GROUP BY entry_id HAVING COUNT(*) > 1)"
        )
        op.execute(QUEUE_TRIGGER)


def downgrade() -> None:
    bind = op.get_bind()
    if bind.exec_driver_sql("SELECT count(*) FROM ledger_chain WHERE kind = 'refund_history'").scalar_one():
        raise RuntimeError("refund history is in the chain: it cannot be downgraded away")
    if bind.exec_driver_sql("SELECT count(*) FROM ledger_checkpoints WHERE prev_hash IS NOT NULL").scalar_one():
        raise RuntimeError("chained checkpoints are stored: they cannot be downgraded away")
    op.drop_index("uq_ledger_chain_refund_history", "ledger_chain")
    if _sqlite():
        op.execute("ALTER TABLE ledger_checkpoints DROP COLUMN prev_hash")
    else:
        op.drop_column("ledger_checkpoints", "prev_hash")
    if _sqlite():
        op.execute("DROP TRIGGER IF EXISTS refund_history_chain_queue")
        op.execute("DELETE FROM ledger_chain_queue WHERE kind = 'refund_history'")
        _sqlite_replace_in_schema("ledger_chain", NEW_KINDS, OLD_KINDS)
        op.execute("ALTER TABLE ledger_chain_queue DROP COLUMN refund_id")
        op.execute("ALTER TABLE ledger_chain DROP COLUMN refund_id")
    else:
        op.drop_constraint(op.f("ck_ledger_chain_kind_known"), "ledger_chain", type_="check")
        op.create_check_constraint("kind_known", "ledger_chain", OLD_KINDS)
        op.drop_column("ledger_chain_queue", "refund_id")
        op.drop_column("ledger_chain", "refund_id")
