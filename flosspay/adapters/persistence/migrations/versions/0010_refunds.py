"""Refunds: their own rows, history and attempts; a reservation on the payment the database enforces.

``payments.refund_reserved_minor`` is what succeeded and pending refunds hold of the payment's
amount; a CHECK keeps it between 0 and ``amount_minor``, so two API processes racing to refund the
same payment cannot together exceed it, on PostgreSQL and on SQLite alike (a refund is accepted by
``UPDATE payments SET refund_reserved_minor = refund_reserved_minor + :x WHERE id = :id AND
refund_reserved_minor + :x <= amount_minor`` and released the same way when it fails).

``refund_history`` is append-only and carries ``tx`` like ``payment_history`` (the chainer's order
on PostgreSQL). ``outbox.refund_id`` names the refund a message is for (the payment id stays set).
``ledger_entries.kind`` gains ``refund``: on SQLite the CHECK is widened in place through
``writable_schema`` (SQLite's documented procedure for a constraint change that no stored row can
violate), since rebuilding the table would drop its append-only triggers.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-01
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | Sequence[str] | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

Time = sa.DateTime(timezone=True)
TX_DEFAULT = sa.text("(pg_current_xact_id()::text::bigint)")
REFUND_STATUSES = "status IN ('PENDING', 'PROCESSING', 'SUCCEEDED', 'FAILED')"
OLD_KINDS = "kind IN ('payment', 'reversal', 'correction')"
NEW_KINDS = "kind IN ('payment', 'reversal', 'correction', 'refund')"
RESERVED_CHECK = (
    "CONSTRAINT ck_payments_refund_within_amount "
    "CHECK (refund_reserved_minor >= 0 AND refund_reserved_minor <= amount_minor)"
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
    op.create_table(
        "refunds",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("payment_id", sa.Uuid(), nullable=False),
        sa.Column("client_id", sa.String(64), nullable=False),
        sa.Column("amount_minor", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("reason", sa.String(255), nullable=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("created_at", Time, nullable=False),
        sa.Column("updated_at", Time, nullable=False),
        sa.Column("failure_code", sa.String(64), nullable=True),
        sa.Column("failure_reason", sa.Text(), nullable=True),
        sa.Column("rail_reference", sa.String(255), nullable=True),
        sa.Column("lease_owner", sa.String(255), nullable=True),
        sa.Column("lease_expires_at", Time, nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("parked_at", Time, nullable=True),
        sa.Column("parked_reason", sa.Text(), nullable=True),
        sa.Column("attempt_floor", sa.Integer(), nullable=False, server_default=sa.text("0")),
        sa.CheckConstraint("amount_minor > 0", name=op.f("ck_refunds_amount_positive")),
        sa.CheckConstraint("version >= 1", name=op.f("ck_refunds_version_positive")),
        sa.CheckConstraint(REFUND_STATUSES, name=op.f("ck_refunds_status_known")),
        sa.ForeignKeyConstraint(["payment_id"], ["payments.id"], name=op.f("fk_refunds_payment_id_payments")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_refunds")),
    )
    op.create_index("ix_refunds_payment_id_created_at", "refunds", ["payment_id", "created_at"])
    op.create_index("ix_refunds_client_id_created_at", "refunds", ["client_id", "created_at"])
    op.create_index(
        "ix_refunds_unfinished_updated",
        "refunds",
        ["updated_at"],
        postgresql_where=sa.text("status IN ('PENDING', 'PROCESSING')"),
        sqlite_where=sa.text("status IN ('PENDING', 'PROCESSING')"),
    )

    tx = sa.Column("tx", sa.BigInteger(), server_default=TX_DEFAULT if not _sqlite() else None, nullable=True)
    op.create_table(
        "refund_history",
        sa.Column("refund_id", sa.Uuid(), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("from_status", sa.String(16), nullable=True),
        sa.Column("to_status", sa.String(16), nullable=False),
        sa.Column("at", Time, nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("attempt", sa.Integer(), nullable=True),
        tx,
        sa.ForeignKeyConstraint(["refund_id"], ["refunds.id"], name=op.f("fk_refund_history_refund_id_refunds")),
        sa.PrimaryKeyConstraint("refund_id", "seq", name=op.f("pk_refund_history")),
    )
    op.create_index(
        "ix_refund_history_tx",
        "refund_history",
        ["tx", "refund_id", "seq"],
        postgresql_where=sa.text("tx IS NOT NULL"),
        sqlite_where=sa.text("tx IS NOT NULL"),
    )
    op.create_table(
        "refund_attempts",
        sa.Column("refund_id", sa.Uuid(), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("action", sa.String(16), nullable=False),
        sa.Column("outcome", sa.String(32), nullable=False),
        sa.Column("code", sa.String(64), nullable=True),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("started_at", Time, nullable=False),
        sa.Column("finished_at", Time, nullable=True),
        sa.ForeignKeyConstraint(["refund_id"], ["refunds.id"], name=op.f("fk_refund_attempts_refund_id_refunds")),
        sa.PrimaryKeyConstraint("refund_id", "number", name=op.f("pk_refund_attempts")),
    )

    if _sqlite():
        # SQLite allows a CHECK on an added column; it is verified against the existing rows (all 0).
        op.execute(f"ALTER TABLE payments ADD COLUMN refund_reserved_minor BIGINT NOT NULL DEFAULT 0 {RESERVED_CHECK}")
        op.execute("ALTER TABLE outbox ADD COLUMN refund_id CHAR(32)")
        for event in ("UPDATE", "DELETE"):
            op.execute(
                f"CREATE TRIGGER refund_history_no_{event.lower()} BEFORE {event} ON refund_history "
                "BEGIN SELECT RAISE(ABORT, 'refund_history is append-only'); END"
            )
        _sqlite_replace_in_schema("ledger_entries", OLD_KINDS, NEW_KINDS)
    else:
        op.add_column(
            "payments", sa.Column("refund_reserved_minor", sa.BigInteger(), nullable=False, server_default="0")
        )
        op.create_check_constraint(
            "refund_within_amount", "payments", "refund_reserved_minor >= 0 AND refund_reserved_minor <= amount_minor"
        )
        op.add_column("outbox", sa.Column("refund_id", sa.Uuid(), nullable=True))
        # flosspay_append_only() comes from migration 0001.
        op.execute(
            "CREATE TRIGGER refund_history_append_only BEFORE UPDATE OR DELETE ON refund_history "
            "FOR EACH ROW EXECUTE FUNCTION flosspay_append_only()"
        )
        op.execute(
            "CREATE TRIGGER refund_history_no_truncate BEFORE TRUNCATE ON refund_history "
            "FOR EACH STATEMENT EXECUTE FUNCTION flosspay_append_only()"
        )
        op.drop_constraint(op.f("ck_ledger_entries_kind_known"), "ledger_entries", type_="check")
        op.create_check_constraint("kind_known", "ledger_entries", NEW_KINDS)


def downgrade() -> None:
    bind = op.get_bind()
    if bind.exec_driver_sql("SELECT count(*) FROM ledger_entries WHERE kind = 'refund'").scalar_one():
        raise RuntimeError("refund entries are in the ledger: they cannot be downgraded away")
    if _sqlite():
        _sqlite_replace_in_schema("ledger_entries", NEW_KINDS, OLD_KINDS)
        for event in ("update", "delete"):
            op.execute(f"DROP TRIGGER IF EXISTS refund_history_no_{event}")
        op.execute("ALTER TABLE outbox DROP COLUMN refund_id")
        # SQLite drops no column a CHECK names: remove the CHECK first (the same procedure), then it.
        _sqlite_replace_in_schema("payments", " " + RESERVED_CHECK, "")
        op.execute("ALTER TABLE payments DROP COLUMN refund_reserved_minor")
    else:
        op.drop_constraint(op.f("ck_ledger_entries_kind_known"), "ledger_entries", type_="check")
        op.create_check_constraint("kind_known", "ledger_entries", OLD_KINDS)
        op.execute("DROP TRIGGER IF EXISTS refund_history_append_only ON refund_history")
        op.execute("DROP TRIGGER IF EXISTS refund_history_no_truncate ON refund_history")
        op.drop_column("outbox", "refund_id")
        op.drop_constraint(op.f("ck_payments_refund_within_amount"), "payments", type_="check")
        op.drop_column("payments", "refund_reserved_minor")
    op.drop_table("refund_attempts")
    op.drop_index("ix_refund_history_tx", "refund_history")
    op.drop_table("refund_history")
    op.drop_index("ix_refunds_unfinished_updated", "refunds")
    op.drop_index("ix_refunds_client_id_created_at", "refunds")
    op.drop_index("ix_refunds_payment_id_created_at", "refunds")
    op.drop_table("refunds")
