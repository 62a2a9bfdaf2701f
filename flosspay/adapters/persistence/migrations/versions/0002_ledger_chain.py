"""The verifiable ledger: journal entries and postings, the hash chain and its checkpoints.

Every new table is append-only, enforced by triggers on both backends (TRUNCATE too, on
PostgreSQL, including payment_history). PostgreSQL stamps history rows and entries with the writing
transaction's id (``tx``) so the chainer can link them in a stable order without writers ever
taking a lock; SQLite, whose writers are serialized anyway, queues them by trigger instead.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-27
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

Time = sa.DateTime(timezone=True)
AutoId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
TX_DEFAULT = sa.text("(pg_current_xact_id()::text::bigint)")

APPEND_ONLY = ("ledger_entries", "ledger_postings", "ledger_chain", "ledger_checkpoints")
NO_TRUNCATE = ("payment_history", *APPEND_ONLY)


def _pg_triggers() -> list[str]:
    # flosspay_append_only() comes from migration 0001.
    rows = [
        f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
        "FOR EACH ROW EXECUTE FUNCTION flosspay_append_only()"
        for table in APPEND_ONLY
    ]
    statements = [
        f"CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table} "
        "FOR EACH STATEMENT EXECUTE FUNCTION flosspay_append_only()"
        for table in NO_TRUNCATE
    ]
    return rows + statements


def _sqlite_triggers() -> list[str]:
    append_only = [
        f"CREATE TRIGGER {table}_no_{event.lower()} BEFORE {event} ON {table} "
        f"BEGIN SELECT RAISE(ABORT, '{table} is append-only'); END"
        for table in APPEND_ONLY
        for event in ("UPDATE", "DELETE")
    ]
    queue = [
        "CREATE TRIGGER payment_history_chain_queue AFTER INSERT ON payment_history BEGIN "
        "INSERT INTO ledger_chain_queue (kind, payment_id, history_seq) VALUES ('history', NEW.payment_id, NEW.seq); "
        "END",
        "CREATE TRIGGER ledger_entries_chain_queue AFTER INSERT ON ledger_entries BEGIN "
        "INSERT INTO ledger_chain_queue (kind, entry_id) VALUES ('entry', NEW.id); "
        "END",
    ]
    return append_only + queue


def _tx_column() -> sa.Column[int]:
    if op.get_bind().dialect.name == "postgresql":
        return sa.Column("tx", sa.BigInteger(), server_default=TX_DEFAULT, nullable=True)
    return sa.Column("tx", sa.BigInteger(), nullable=True)


def upgrade() -> None:
    postgres = op.get_bind().dialect.name == "postgresql"
    op.add_column("payment_history", _tx_column())
    op.create_index(
        "ix_payment_history_tx",
        "payment_history",
        ["tx", "payment_id", "seq"],
        postgresql_where=sa.text("tx IS NOT NULL"),
        sqlite_where=sa.text("tx IS NOT NULL"),
    )
    op.create_table(
        "ledger_entries",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("payment_id", sa.Uuid(), nullable=True),
        sa.Column("ref_entry_id", sa.Uuid(), nullable=True),
        sa.Column("posted_at", Time, nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        _tx_column(),
        sa.CheckConstraint("kind IN ('payment', 'reversal', 'correction')", name=op.f("ck_ledger_entries_kind_known")),
        sa.ForeignKeyConstraint(["payment_id"], ["payments.id"], name=op.f("fk_ledger_entries_payment_id_payments")),
        sa.ForeignKeyConstraint(
            ["ref_entry_id"], ["ledger_entries.id"], name=op.f("fk_ledger_entries_ref_entry_id_ledger_entries")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ledger_entries")),
    )
    op.create_index(
        "uq_ledger_entries_payment",
        "ledger_entries",
        ["payment_id"],
        unique=True,
        postgresql_where=sa.text("kind = 'payment'"),
        sqlite_where=sa.text("kind = 'payment'"),
    )
    op.create_index(
        "uq_ledger_entries_reversal",
        "ledger_entries",
        ["ref_entry_id"],
        unique=True,
        postgresql_where=sa.text("kind = 'reversal'"),
        sqlite_where=sa.text("kind = 'reversal'"),
    )
    op.create_index("ix_ledger_entries_ref_entry_id", "ledger_entries", ["ref_entry_id"])
    op.create_index(
        "ix_ledger_entries_tx",
        "ledger_entries",
        ["tx", "id"],
        postgresql_where=sa.text("tx IS NOT NULL"),
        sqlite_where=sa.text("tx IS NOT NULL"),
    )
    op.create_table(
        "ledger_postings",
        sa.Column("entry_id", sa.Uuid(), nullable=False),
        sa.Column("line", sa.SmallInteger(), nullable=False),
        sa.Column("account", sa.String(255), nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("amount_minor", sa.BigInteger(), nullable=False),
        sa.CheckConstraint("amount_minor <> 0", name=op.f("ck_ledger_postings_amount_nonzero")),
        sa.ForeignKeyConstraint(
            ["entry_id"], ["ledger_entries.id"], name=op.f("fk_ledger_postings_entry_id_ledger_entries")
        ),
        sa.PrimaryKeyConstraint("entry_id", "line", name=op.f("pk_ledger_postings")),
    )
    op.create_index("ix_ledger_postings_account", "ledger_postings", ["account"])
    op.create_table(
        "ledger_chain",
        sa.Column("seq", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("payment_id", sa.Uuid(), nullable=True),
        sa.Column("history_seq", sa.Integer(), nullable=True),
        sa.Column("entry_id", sa.Uuid(), nullable=True),
        sa.Column("source_pos", sa.BigInteger(), nullable=False),
        sa.Column("prev_hash", sa.LargeBinary(32), nullable=False),
        sa.Column("hash", sa.LargeBinary(32), nullable=False),
        sa.Column("chained_at", Time, nullable=False),
        sa.CheckConstraint("seq >= 1", name=op.f("ck_ledger_chain_seq_positive")),
        sa.CheckConstraint("kind IN ('history', 'entry')", name=op.f("ck_ledger_chain_kind_known")),
        sa.PrimaryKeyConstraint("seq", name=op.f("pk_ledger_chain")),
    )
    op.create_index("uq_ledger_chain_history", "ledger_chain", ["payment_id", "history_seq"], unique=True)
    op.create_index("uq_ledger_chain_entry_id", "ledger_chain", ["entry_id"], unique=True)
    op.create_index("ix_ledger_chain_kind_seq", "ledger_chain", ["kind", "seq"])
    op.create_table(
        "ledger_checkpoints",
        sa.Column("seq", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("hash", sa.LargeBinary(32), nullable=False),
        sa.Column("at", Time, nullable=False),
        sa.Column("public_key", sa.LargeBinary(32), nullable=True),
        sa.Column("signature", sa.LargeBinary(64), nullable=True),
        sa.PrimaryKeyConstraint("seq", name=op.f("pk_ledger_checkpoints")),
    )
    op.create_table(
        "ledger_chain_queue",
        sa.Column("id", AutoId, autoincrement=True, nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("payment_id", sa.Uuid(), nullable=True),
        sa.Column("history_seq", sa.Integer(), nullable=True),
        sa.Column("entry_id", sa.Uuid(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ledger_chain_queue")),
    )
    if postgres:
        for statement in _pg_triggers():
            op.execute(statement)
    else:
        # History written before this migration is queued too, in its original order.
        op.execute(
            "INSERT INTO ledger_chain_queue (kind, payment_id, history_seq) "
            "SELECT 'history', payment_id, seq FROM payment_history ORDER BY rowid"
        )
        for statement in _sqlite_triggers():
            op.execute(statement)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for table in APPEND_ONLY:
            op.execute(f"DROP TRIGGER IF EXISTS {table}_append_only ON {table}")
        for table in NO_TRUNCATE:
            op.execute(f"DROP TRIGGER IF EXISTS {table}_no_truncate ON {table}")
    else:
        op.execute("DROP TRIGGER IF EXISTS payment_history_chain_queue")
    op.drop_table("ledger_chain_queue")
    op.drop_table("ledger_checkpoints")
    op.drop_table("ledger_chain")
    op.drop_table("ledger_postings")
    op.drop_table("ledger_entries")
    op.drop_index("ix_payment_history_tx", "payment_history")
    # Plain ALTER (SQLite 3.35+): a batch copy of the table would lose its append-only triggers.
    op.execute("ALTER TABLE payment_history DROP COLUMN tx")
