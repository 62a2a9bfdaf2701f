"""Initial schema: clients, payments with history and attempts, idempotency records, outbox.

Revision ID: 0001
Revises:
Create Date: 2026-11-27
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0001"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

Time = sa.DateTime(timezone=True)
Document = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
AutoId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
STATUSES = "'QUEUED', 'REQUESTED', 'PROCESSING', 'ACTION_REQUIRED', 'COMPLETED', 'FAILED', 'DECLINED', 'EXPIRED'"

# payment_history is append-only: a status change, once written, is a fact.
PG_APPEND_ONLY = """
CREATE FUNCTION flosspay_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'table is append-only' USING ERRCODE = 'P0001';
END
$$
"""
PG_HISTORY_TRIGGER = (
    "CREATE TRIGGER payment_history_append_only BEFORE UPDATE OR DELETE ON payment_history "
    "FOR EACH ROW EXECUTE FUNCTION flosspay_append_only()"
)
SQLITE_HISTORY_TRIGGERS = [
    f"CREATE TRIGGER payment_history_no_{event.lower()} BEFORE {event} ON payment_history "
    "BEGIN SELECT RAISE(ABORT, 'payment_history is append-only'); END"
    for event in ("UPDATE", "DELETE")
]


def upgrade() -> None:
    op.create_table(
        "api_clients",
        sa.Column("client_id", sa.String(64), nullable=False),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("secret", sa.String(128), nullable=False),
        sa.Column("created_at", Time, nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("client_id", name=op.f("pk_api_clients")),
    )
    op.create_table(
        "payments",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("client_id", sa.String(64), nullable=False),
        sa.Column("flow", sa.String(16), nullable=False),
        sa.Column("method", sa.String(32), nullable=False),
        sa.Column("rail", sa.String(64), nullable=False),
        sa.Column("amount_minor", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("details", Document, nullable=False),
        sa.Column("public", Document, nullable=False),
        sa.Column("note", sa.String(255), nullable=True),
        sa.Column("status", sa.String(32), nullable=False),
        sa.Column("created_at", Time, nullable=False),
        sa.Column("updated_at", Time, nullable=False),
        sa.Column("expires_at", Time, nullable=True),
        sa.Column("failure_code", sa.String(64), nullable=True),
        sa.Column("failure_reason", sa.Text(), nullable=True),
        sa.Column("lease_owner", sa.String(255), nullable=True),
        sa.Column("lease_expires_at", Time, nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.CheckConstraint("amount_minor > 0", name=op.f("ck_payments_amount_positive")),
        sa.CheckConstraint("version >= 1", name=op.f("ck_payments_version_positive")),
        sa.CheckConstraint("flow IN ('PAY', 'COLLECT')", name=op.f("ck_payments_flow_known")),
        sa.CheckConstraint(f"status IN ({STATUSES})", name=op.f("ck_payments_status_known")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_payments")),
    )
    op.create_index("ix_payments_client_id_created_at", "payments", ["client_id", "created_at"])
    op.create_index(
        "ix_payments_processing_lease",
        "payments",
        ["lease_expires_at"],
        postgresql_where=sa.text("status = 'PROCESSING'"),
        sqlite_where=sa.text("status = 'PROCESSING'"),
    )
    unfinished = "status IN ('QUEUED', 'REQUESTED', 'PROCESSING', 'ACTION_REQUIRED')"
    op.create_index(
        "ix_payments_unfinished_updated",
        "payments",
        ["updated_at"],
        postgresql_where=sa.text(unfinished),
        sqlite_where=sa.text(unfinished),
    )
    op.create_table(
        "payment_history",
        sa.Column("payment_id", sa.Uuid(), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("from_status", sa.String(32), nullable=True),
        sa.Column("to_status", sa.String(32), nullable=False),
        sa.Column("at", Time, nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("attempt", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(["payment_id"], ["payments.id"], name=op.f("fk_payment_history_payment_id_payments")),
        sa.PrimaryKeyConstraint("payment_id", "seq", name=op.f("pk_payment_history")),
    )
    op.create_table(
        "rail_attempts",
        sa.Column("payment_id", sa.Uuid(), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("action", sa.String(16), nullable=False),
        sa.Column("outcome", sa.String(32), nullable=False),
        sa.Column("code", sa.String(64), nullable=True),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("started_at", Time, nullable=False),
        sa.Column("finished_at", Time, nullable=True),
        sa.ForeignKeyConstraint(["payment_id"], ["payments.id"], name=op.f("fk_rail_attempts_payment_id_payments")),
        sa.PrimaryKeyConstraint("payment_id", "number", name=op.f("pk_rail_attempts")),
    )
    op.create_table(
        "idempotency_records",
        sa.Column("client_id", sa.String(64), nullable=False),
        sa.Column("key", sa.String(255), nullable=False),
        sa.Column("fingerprint", sa.String(128), nullable=False),
        sa.Column("response_status", sa.SmallInteger(), nullable=False),
        sa.Column("response_body", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", Time, nullable=False),
        sa.Column("expires_at", Time, nullable=False),
        sa.Column("payment_id", sa.String(64), nullable=True),
        sa.PrimaryKeyConstraint("client_id", "key", name=op.f("pk_idempotency_records")),
    )
    op.create_index("ix_idempotency_records_expires_at", "idempotency_records", ["expires_at"])
    op.create_table(
        "outbox",
        sa.Column("id", AutoId, autoincrement=True, nullable=False),
        sa.Column("payment_id", sa.Uuid(), nullable=False),
        sa.Column("topic", sa.String(64), nullable=False),
        sa.Column("available_at", Time, nullable=False),
        sa.Column("dispatched_at", Time, nullable=True),
        sa.ForeignKeyConstraint(["payment_id"], ["payments.id"], name=op.f("fk_outbox_payment_id_payments")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_outbox")),
    )
    op.create_index(
        "ix_outbox_undispatched",
        "outbox",
        ["available_at", "id"],
        postgresql_where=sa.text("dispatched_at IS NULL"),
        sqlite_where=sa.text("dispatched_at IS NULL"),
    )
    op.create_index("ix_outbox_payment_id", "outbox", ["payment_id", "dispatched_at"])
    if op.get_bind().dialect.name == "postgresql":
        op.execute(PG_APPEND_ONLY)
        op.execute(PG_HISTORY_TRIGGER)
    else:
        for statement in SQLITE_HISTORY_TRIGGERS:
            op.execute(statement)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS payment_history_append_only ON payment_history")
        op.execute("DROP FUNCTION IF EXISTS flosspay_append_only()")
    op.drop_table("outbox")
    op.drop_table("idempotency_records")
    op.drop_table("rail_attempts")
    op.drop_table("payment_history")
    op.drop_table("payments")
    op.drop_table("api_clients")
