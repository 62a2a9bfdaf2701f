"""The schema as SQLAlchemy Core tables: what the repositories query and Alembic migrations mirror.

No foreign key to ``api_clients``: clients are checked by the HTTP layer before a payment exists,
and the intake INSERTs stay free of an extra lookup. ``payment_history``, the ledger tables and the
chain are append-only (enforced by triggers created in the migrations).
"""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    SmallInteger,
    String,
    Table,
    Text,
    Uuid,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB

from flosspay.adapters.persistence.column_types import UtcDateTime

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

metadata = MetaData(naming_convention=NAMING_CONVENTION)

# JSONB on PostgreSQL (compact, indexable), JSON text elsewhere.
Document = JSON().with_variant(JSONB(), "postgresql")
# SQLite only auto-increments an INTEGER PRIMARY KEY.
AutoId = BigInteger().with_variant(Integer(), "sqlite")

PAYMENT_STATUSES = (
    "QUEUED",
    "REQUESTED",
    "PROCESSING",
    "ACTION_REQUIRED",
    "COMPLETED",
    "FAILED",
    "DECLINED",
    "EXPIRED",
)


def _one_of(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


api_clients = Table(
    "api_clients",
    metadata,
    Column("client_id", String(64), primary_key=True),
    Column("name", String(100), nullable=False),
    Column("secret", String(255), nullable=False),  # sealed (AES-GCM), never the secret itself
    Column("created_at", UtcDateTime(), nullable=False),
    Column("active", Boolean(), nullable=False),
    Column("secret_key_id", String(32), nullable=False),
    Column("previous_secret", String(255)),  # sealed; accepted until previous_secret_expires_at
    Column("previous_secret_key_id", String(32)),
    Column("previous_secret_expires_at", UtcDateTime()),
    Column("rate_per_second", Float(), nullable=False, server_default=text("100")),
    Column("burst", Integer(), nullable=False, server_default=text("200")),
)

_UNFINISHED = "status IN ('QUEUED', 'REQUESTED', 'PROCESSING', 'ACTION_REQUIRED')"

payments = Table(
    "payments",
    metadata,
    Column("id", Uuid(), primary_key=True),
    Column("client_id", String(64), nullable=False),
    Column("flow", String(16), nullable=False),
    Column("method", String(32), nullable=False),
    Column("rail", String(64), nullable=False),
    Column("amount_minor", BigInteger(), nullable=False),
    Column("currency", String(3), nullable=False),
    Column("details", Document, nullable=False),
    Column("public", Document, nullable=False),
    Column("note", String(255)),
    Column("status", String(32), nullable=False),
    Column("created_at", UtcDateTime(), nullable=False),
    Column("updated_at", UtcDateTime(), nullable=False),
    Column("expires_at", UtcDateTime()),
    Column("failure_code", String(64)),
    Column("failure_reason", Text()),
    Column("lease_owner", String(255)),
    Column("lease_expires_at", UtcDateTime()),
    Column("version", Integer(), nullable=False),
    # The ledger accounts the rail named at acceptance (migration 0006); NULL: the generic defaults.
    Column("payer_account", String(255)),
    Column("payee_account", String(255)),
    Column("next_action", Document),  # {"type": "redirect", "url": ...} while the customer must act
    # Dead letters (migration 0004): set while the payment waits for an operator's requeue.
    Column("parked_at", UtcDateTime()),
    Column("parked_reason", Text()),
    Column("attempt_floor", Integer(), nullable=False, server_default=text("0")),
    # Refunds (migration 0010): what succeeded and pending refunds hold of the amount. Not saved with
    # the payment (not in the repository's changed columns): only the refund intake's guarded UPDATE
    # and a failed refund's release move it, and the CHECK makes over-refunding impossible.
    Column("refund_reserved_minor", BigInteger(), nullable=False, server_default=text("0")),
    CheckConstraint("amount_minor > 0", name="amount_positive"),
    CheckConstraint("version >= 1", name="version_positive"),
    CheckConstraint(
        "refund_reserved_minor >= 0 AND refund_reserved_minor <= amount_minor", name="refund_within_amount"
    ),
    CheckConstraint(_one_of("flow", ("PAY", "COLLECT")), name="flow_known"),
    CheckConstraint(_one_of("status", PAYMENT_STATUSES), name="status_known"),
    # A client's payments, newest first (listing, reconciliation).
    Index("ix_payments_client_id_created_at", "client_id", "created_at"),
    # The stalled-payment sweep: only PROCESSING rows, ordered by lease expiry.
    Index(
        "ix_payments_processing_lease",
        "lease_expires_at",
        postgresql_where=text("status = 'PROCESSING'"),
        sqlite_where=text("status = 'PROCESSING'"),
    ),
    # The dead-letter list: only parked rows.
    Index(
        "ix_payments_parked",
        "parked_at",
        postgresql_where=text("parked_at IS NOT NULL"),
        sqlite_where=text("parked_at IS NOT NULL"),
    ),
    # The lost-message safety net: unfinished payments by last change.
    Index(
        "ix_payments_unfinished_updated",
        "updated_at",
        postgresql_where=text(_UNFINISHED),
        sqlite_where=text(_UNFINISHED),
    ),
)

payment_history = Table(
    "payment_history",
    metadata,
    Column("payment_id", Uuid(), ForeignKey("payments.id"), primary_key=True),
    Column("seq", Integer(), primary_key=True),  # position in the payment's history, from 0
    Column("from_status", String(32)),
    Column("to_status", String(32), nullable=False),
    Column("at", UtcDateTime(), nullable=False),
    Column("reason", Text(), nullable=False),
    Column("attempt", Integer()),
    # PostgreSQL: the writing transaction's id (a server default), which orders rows for the chainer.
    Column("tx", BigInteger()),
    # The chainer's scan, in its order, so it stops after one batch however long the backlog.
    Index(
        "ix_payment_history_tx",
        "tx",
        "payment_id",
        "seq",
        postgresql_where=text("tx IS NOT NULL"),
        sqlite_where=text("tx IS NOT NULL"),
    ),
)

rail_attempts = Table(
    "rail_attempts",
    metadata,
    Column("payment_id", Uuid(), ForeignKey("payments.id"), primary_key=True),
    Column("number", Integer(), primary_key=True),
    Column("action", String(16), nullable=False),
    Column("outcome", String(32), nullable=False),
    Column("code", String(64)),
    Column("reason", Text()),
    Column("started_at", UtcDateTime(), nullable=False),
    Column("finished_at", UtcDateTime()),
)

idempotency_records = Table(
    "idempotency_records",
    metadata,
    Column("client_id", String(64), primary_key=True),
    Column("key", String(255), primary_key=True),
    Column("fingerprint", String(128), nullable=False),
    Column("response_status", SmallInteger(), nullable=False),
    Column("response_body", LargeBinary(), nullable=False),
    Column("created_at", UtcDateTime(), nullable=False),
    Column("expires_at", UtcDateTime(), nullable=False),
    Column("payment_id", String(64)),
    Index("ix_idempotency_records_expires_at", "expires_at"),
)

outbox = Table(
    "outbox",
    metadata,
    Column("id", AutoId, primary_key=True, autoincrement=True),
    Column("payment_id", Uuid(), ForeignKey("payments.id"), nullable=False),
    Column("topic", String(64), nullable=False),
    Column("available_at", UtcDateTime(), nullable=False),
    Column("dispatched_at", UtcDateTime()),
    Column("request_id", String(128)),  # migration 0008: the HTTP request that scheduled it (for logs)
    Column("refund_id", Uuid()),  # migration 0010: the refund this message is for (NULL: the payment)
    # The relay's scan: only undispatched rows, oldest first.
    Index(
        "ix_outbox_undispatched",
        "available_at",
        "id",
        postgresql_where=text("dispatched_at IS NULL"),
        sqlite_where=text("dispatched_at IS NULL"),
    ),
    # "Is a message for this payment waiting or recently sent?" (the stalled-payment sweep).
    Index("ix_outbox_payment_id", "payment_id", "dispatched_at"),
)


# --- refunds (migration 0010): each refund's row, its append-only history, its attempts at the rail ---

REFUND_STATUSES = ("PENDING", "PROCESSING", "SUCCEEDED", "FAILED")
_REFUND_UNFINISHED = "status IN ('PENDING', 'PROCESSING')"

refunds = Table(
    "refunds",
    metadata,
    Column("id", Uuid(), primary_key=True),
    Column("payment_id", Uuid(), ForeignKey("payments.id"), nullable=False),
    Column("client_id", String(64), nullable=False),
    Column("amount_minor", BigInteger(), nullable=False),
    Column("currency", String(3), nullable=False),
    Column("reason", String(255)),
    Column("status", String(16), nullable=False),
    Column("created_at", UtcDateTime(), nullable=False),
    Column("updated_at", UtcDateTime(), nullable=False),
    Column("failure_code", String(64)),
    Column("failure_reason", Text()),
    Column("rail_reference", String(255)),  # the rail's own id for the refund, once it gave one
    Column("lease_owner", String(255)),
    Column("lease_expires_at", UtcDateTime()),
    Column("version", Integer(), nullable=False),
    Column("parked_at", UtcDateTime()),
    Column("parked_reason", Text()),
    Column("attempt_floor", Integer(), nullable=False, server_default=text("0")),
    CheckConstraint("amount_minor > 0", name="amount_positive"),
    CheckConstraint("version >= 1", name="version_positive"),
    CheckConstraint(_one_of("status", REFUND_STATUSES), name="status_known"),
    Index("ix_refunds_payment_id_created_at", "payment_id", "created_at"),
    Index("ix_refunds_client_id_created_at", "client_id", "created_at"),
    Index(
        "ix_refunds_unfinished_updated",
        "updated_at",
        postgresql_where=text(_REFUND_UNFINISHED),
        sqlite_where=text(_REFUND_UNFINISHED),
    ),
)

refund_history = Table(
    "refund_history",
    metadata,
    Column("refund_id", Uuid(), ForeignKey("refunds.id"), primary_key=True),
    Column("seq", Integer(), primary_key=True),  # position in the refund's history, from 0
    Column("from_status", String(16)),
    Column("to_status", String(16), nullable=False),
    Column("at", UtcDateTime(), nullable=False),
    Column("reason", Text(), nullable=False),
    Column("attempt", Integer()),
    Column("tx", BigInteger()),  # as payment_history.tx
    Index(
        "ix_refund_history_tx",
        "tx",
        "refund_id",
        "seq",
        postgresql_where=text("tx IS NOT NULL"),
        sqlite_where=text("tx IS NOT NULL"),
    ),
)

refund_attempts = Table(
    "refund_attempts",
    metadata,
    Column("refund_id", Uuid(), ForeignKey("refunds.id"), primary_key=True),
    Column("number", Integer(), primary_key=True),
    Column("action", String(16), nullable=False),
    Column("outcome", String(32), nullable=False),
    Column("code", String(64)),
    Column("reason", Text()),
    Column("started_at", UtcDateTime(), nullable=False),
    Column("finished_at", UtcDateTime()),
)


# --- the ledger and the hash chain (migration 0002; all append-only except the SQLite queue) -------

ENTRY_KINDS = ("payment", "reversal", "correction", "refund")
CHAIN_KINDS = ("history", "entry", "refund_history")  # refund_history: migration 0011

ledger_entries = Table(
    "ledger_entries",
    metadata,
    Column("id", Uuid(), primary_key=True),
    Column("kind", String(16), nullable=False),
    Column("payment_id", Uuid(), ForeignKey("payments.id")),
    Column("ref_entry_id", Uuid(), ForeignKey("ledger_entries.id")),
    Column("posted_at", UtcDateTime(), nullable=False),
    Column("description", Text(), nullable=False),
    Column("tx", BigInteger()),  # as payment_history.tx
    CheckConstraint(_one_of("kind", ENTRY_KINDS), name="kind_known"),
    # One payment entry per payment, one reversal per entry: enforced here, not only in code.
    Index(
        "uq_ledger_entries_payment",
        "payment_id",
        unique=True,
        postgresql_where=text("kind = 'payment'"),
        sqlite_where=text("kind = 'payment'"),
    ),
    Index(
        "uq_ledger_entries_reversal",
        "ref_entry_id",
        unique=True,
        postgresql_where=text("kind = 'reversal'"),
        sqlite_where=text("kind = 'reversal'"),
    ),
    # Only entries that reference another (migration 0012): payment entries (NULL) cost no insertion.
    Index(
        "ix_ledger_entries_ref_entry_id",
        "ref_entry_id",
        postgresql_where=text("ref_entry_id IS NOT NULL"),
        sqlite_where=text("ref_entry_id IS NOT NULL"),
    ),
    Index(
        "ix_ledger_entries_tx", "tx", "id", postgresql_where=text("tx IS NOT NULL"), sqlite_where=text("tx IS NOT NULL")
    ),
)

ledger_postings = Table(
    "ledger_postings",
    metadata,
    Column("entry_id", Uuid(), ForeignKey("ledger_entries.id"), primary_key=True),
    Column("line", SmallInteger(), primary_key=True),
    Column("account", String(255), nullable=False),
    Column("currency", String(3), nullable=False),
    Column("amount_minor", BigInteger(), nullable=False),  # signed: positive flows into the account
    CheckConstraint("amount_minor <> 0", name="amount_nonzero"),
    Index("ix_ledger_postings_account", "account"),
)

ledger_chain = Table(
    "ledger_chain",
    metadata,
    Column("seq", BigInteger(), primary_key=True, autoincrement=False),
    Column("kind", String(16), nullable=False),
    Column("payment_id", Uuid()),
    Column("history_seq", Integer()),
    Column("entry_id", Uuid()),
    Column("source_pos", BigInteger(), nullable=False),
    Column("prev_hash", LargeBinary(32), nullable=False),
    Column("hash", LargeBinary(32), nullable=False),
    Column("chained_at", UtcDateTime(), nullable=False),
    Column("refund_id", Uuid()),  # migration 0011: a refund_history link's refund (history_seq its row)
    CheckConstraint("seq >= 1", name="seq_positive"),
    CheckConstraint(_one_of("kind", CHAIN_KINDS), name="kind_known"),
    # A record is chained once.
    Index("uq_ledger_chain_history", "payment_id", "history_seq", unique=True),
    Index("uq_ledger_chain_refund_history", "refund_id", "history_seq", unique=True),
    Index("uq_ledger_chain_entry_id", "entry_id", unique=True),
    # The chainer's cursor: the newest link of each kind.
    Index("ix_ledger_chain_kind_seq", "kind", "seq"),
)

ledger_checkpoints = Table(
    "ledger_checkpoints",
    metadata,
    Column("seq", BigInteger(), primary_key=True, autoincrement=False),
    Column("hash", LargeBinary(32), nullable=False),
    Column("at", UtcDateTime(), nullable=False),
    Column("public_key", LargeBinary(32)),
    Column("signature", LargeBinary(64)),
    Column("prev_hash", LargeBinary(32)),  # migration 0011: the previous checkpoint's digest (NULL: format 1)
)

# SQLite only (filled by triggers): records in commit order, waiting to be chained. PostgreSQL
# orders by transaction id instead and leaves this table empty.
ledger_chain_queue = Table(
    "ledger_chain_queue",
    metadata,
    Column("id", AutoId, primary_key=True, autoincrement=True),
    Column("kind", String(16), nullable=False),
    Column("payment_id", Uuid()),
    Column("history_seq", Integer()),
    Column("entry_id", Uuid()),
    Column("refund_id", Uuid()),  # migration 0011
)


# --- webhooks (migration 0009): endpoints, events (the outbox of what merchants hear), deliveries ---

DELIVERY_STATUSES = ("PENDING", "DELIVERED", "FAILED")

webhook_endpoints = Table(
    "webhook_endpoints",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("client_id", String(64), nullable=False),
    Column("url", String(2048), nullable=False),
    # Space-padded list (" payment.completed payment.failed "): one LIKE decides who hears an event.
    Column("events", String(512), nullable=False),
    Column("description", String(255), nullable=False),
    Column("enabled", Boolean(), nullable=False),
    Column("disabled_reason", String(255)),
    Column("secret", String(255), nullable=False),  # sealed (AES-GCM) like api_clients.secret
    Column("secret_key_id", String(32), nullable=False),
    Column("previous_secret", String(255)),  # sealed; signs too until previous_secret_expires_at
    Column("previous_secret_key_id", String(32)),
    Column("previous_secret_expires_at", UtcDateTime()),
    Column("created_at", UtcDateTime(), nullable=False),
    Column("updated_at", UtcDateTime(), nullable=False),
    Column("deleted_at", UtcDateTime()),
    # The per-endpoint circuit breaker.
    Column("consecutive_failures", Integer(), nullable=False),
    Column("breaker_open_until", UtcDateTime()),
    Index("ix_webhook_endpoints_client_id", "client_id"),
)

webhook_events = Table(
    "webhook_events",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("client_id", String(64), nullable=False),
    Column("payment_id", Uuid(), nullable=False),
    Column("type", String(64), nullable=False),
    Column("created_at", UtcDateTime(), nullable=False),
    Column("payload", LargeBinary(), nullable=False),  # the exact bytes every attempt signs and sends
    Index("ix_webhook_events_payment_id", "payment_id"),
    Index("ix_webhook_events_client_id_created_at", "client_id", "created_at"),
)

webhook_deliveries = Table(
    "webhook_deliveries",
    metadata,
    Column("id", AutoId, primary_key=True, autoincrement=True),
    Column("event_id", String(40), ForeignKey("webhook_events.id"), nullable=False),
    Column("endpoint_id", String(40), ForeignKey("webhook_endpoints.id"), nullable=False),
    Column("status", String(16), nullable=False),
    Column("attempts", Integer(), nullable=False),
    # Due time; while an attempt is in flight it is the lease: a sender that dies is retried after it.
    Column("next_attempt_at", UtcDateTime()),
    Column("claim", String(40)),
    Column("created_at", UtcDateTime(), nullable=False),
    Column("finished_at", UtcDateTime()),
    CheckConstraint(_one_of("status", DELIVERY_STATUSES), name="status_known"),
    Index("uq_webhook_deliveries_event_id_endpoint_id", "event_id", "endpoint_id", unique=True),
    Index(
        "ix_webhook_deliveries_due",
        "next_attempt_at",
        postgresql_where=text("status = 'PENDING'"),
        sqlite_where=text("status = 'PENDING'"),
    ),
)

webhook_attempts = Table(
    "webhook_attempts",
    metadata,
    Column("id", AutoId, primary_key=True, autoincrement=True),
    Column("delivery_id", AutoId, ForeignKey("webhook_deliveries.id"), nullable=False),
    Column("event_id", String(40), nullable=False),
    Column("endpoint_id", String(40), nullable=False),
    Column("url", String(2048), nullable=False),
    Column("attempted_at", UtcDateTime(), nullable=False),
    Column("duration_ms", Integer(), nullable=False),
    Column("response_status", SmallInteger()),
    Column("response_body", Text(), nullable=False),
    Column("error", String(255)),
    Column("next_attempt_at", UtcDateTime()),
    Index("ix_webhook_attempts_event_id", "event_id", "id"),
)
