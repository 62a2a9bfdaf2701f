"""The payment aggregate in SQL: one row, its append-only history and its rail attempts."""

from __future__ import annotations

import functools
import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Executable,
    Select,
    Update,
    and_,
    bindparam,
    exists,
    func,
    literal_column,
    or_,
    select,
    update,
)

from flosspay.adapters.persistence import mapping
from flosspay.adapters.persistence.column_types import UtcDateTime
from flosspay.adapters.persistence.connection import GuardedConnection, upsert_insert
from flosspay.adapters.persistence.idempotency import SqlIdempotencyStore
from flosspay.adapters.persistence.intake import accept_sql, execute_accept
from flosspay.adapters.persistence.ledger import SqlLedgerRepository, entry_row, posting_rows
from flosspay.adapters.persistence.outbox import SqlOutbox
from flosspay.adapters.persistence.payment_save import (
    execute_save,
    fetch_one,
    load_sql,
    loaded_rows,
    save_params,
    save_sql,
)
from flosspay.adapters.persistence.tables import outbox, payment_history, payments, rail_attempts
from flosspay.adapters.persistence.webhooks import SqlWebhookRepository, event_row
from flosspay.domain.errors import ConcurrentUpdate, IdempotencyInProgress
from flosspay.domain.idempotency import IdempotencyRecord
from flosspay.domain.ledger import JournalEntry
from flosspay.domain.outbox import OutboxMessage
from flosspay.domain.payment import Payment
from flosspay.domain.webhooks import events_for

_CHANGED = (
    "status",
    "updated_at",
    "expires_at",
    "failure_code",
    "failure_reason",
    "lease_owner",
    "lease_expires_at",
    "next_action",
    "parked_at",
    "parked_reason",
    "attempt_floor",
)

_INSERT_PAYMENT = payments.insert()
_INSERT_HISTORY = payment_history.insert()
_SELECT_PAYMENT = select(payments).where(payments.c.id == bindparam("b_id"))
_SELECT_OWNED = select(payments).where(
    payments.c.id == bindparam("b_id"), payments.c.client_id == bindparam("b_client")
)
_SELECT_HISTORY = (
    select(payment_history).where(payment_history.c.payment_id == bindparam("b_id")).order_by(payment_history.c.seq)
)
_SELECT_ATTEMPTS = (
    select(rail_attempts).where(rail_attempts.c.payment_id == bindparam("b_id")).order_by(rail_attempts.c.number)
)
# Optimistic concurrency: the row changes only if nobody saved it since we read it.
_UPDATE_PAYMENT: Update = (
    update(payments)
    .where(payments.c.id == bindparam("b_id"), payments.c.version == bindparam("b_version"))
    .values({**{name: bindparam(name) for name in _CHANGED}, "version": payments.c.version + 1})
)
_NOT_FINAL = ("QUEUED", "REQUESTED", "PROCESSING", "ACTION_REQUIRED")
_now = bindparam("b_now", type_=UtcDateTime())
_idle_before = bindparam("b_idle_before", type_=UtcDateTime())


def _no_outbox_since(since: ColumnElement[Any]) -> ColumnElement[bool]:
    """No message for the payment is waiting, and none was handed to the broker after ``since``."""
    return ~exists().where(
        outbox.c.payment_id == payments.c.id,
        or_(outbox.c.dispatched_at.is_(None), outbox.c.dispatched_at >= since),
    )


# A: a worker died holding the lease (literal status, so the partial index on PROCESSING rows is usable).
# B: the safety net for a lost message: not final, nobody holds it, untouched since idle_before.
# Either way, not again while a rescheduled message is waiting or was dispatched after the stall began.
_SELECT_STALLED: Select[tuple[uuid.UUID]] = (
    select(payments.c.id)
    .where(
        or_(
            and_(
                payments.c.status == literal_column("'PROCESSING'"),
                payments.c.lease_expires_at < _now,
                payments.c.parked_at.is_(None),
                _no_outbox_since(payments.c.lease_expires_at),
            ),
            and_(
                payments.c.status.in_(_NOT_FINAL),
                payments.c.parked_at.is_(None),
                or_(payments.c.lease_expires_at.is_(None), payments.c.lease_expires_at < _now),
                payments.c.updated_at < _idle_before,
                _no_outbox_since(_idle_before),
            ),
        )
    )
    .order_by(func.coalesce(payments.c.lease_expires_at, payments.c.updated_at))
    .limit(bindparam("b_limit"))
)


_SELECT_PARKED: Select[tuple[uuid.UUID]] = (
    select(payments.c.id)
    .where(payments.c.parked_at.is_not(None))
    .order_by(payments.c.parked_at)
    .limit(bindparam("b_limit"))
)
_COUNT_PARKED = select(func.count()).select_from(payments).where(payments.c.parked_at.is_not(None))
# Uses the partial index on unfinished payments by updated_at.
_SELECT_STUCK: Select[tuple[uuid.UUID]] = (
    select(payments.c.id)
    .where(
        payments.c.status.in_(_NOT_FINAL),
        payments.c.parked_at.is_(None),
        payments.c.updated_at < bindparam("b_before", type_=UtcDateTime()),
    )
    .order_by(payments.c.updated_at)
    .limit(bindparam("b_limit"))
)


@functools.cache
def _upsert_attempt(is_postgres: bool) -> Executable:
    insert = upsert_insert(rail_attempts, is_postgres)
    changed = ("action", "outcome", "code", "reason", "started_at", "finished_at")
    return insert.on_conflict_do_update(
        index_elements=[rail_attempts.c.payment_id, rail_attempts.c.number],
        set_={name: insert.excluded[name] for name in changed},
    )


class SqlPaymentRepository:
    def __init__(self, db: GuardedConnection) -> None:
        self._db = db

    def add(self, payment: Payment) -> None:
        """Insert the payment, its new history rows and its attempts (one statement each)."""
        self._db.execute(_INSERT_PAYMENT, mapping.payment_row(payment))
        history = mapping.history_rows(payment)
        if history:
            self._db.execute(_INSERT_HISTORY, history)
        if payment.attempts:
            rows = [mapping.attempt_row(payment.id, a) for a in payment.attempts]
            self._db.execute(_upsert_attempt(self._db.is_postgres), rows)
        payment.mark_saved()

    def accept(self, payment: Payment, record: IdempotencyRecord, message: OutboxMessage, now: datetime) -> bool:
        """Claim the key and, only if claimed, store the payment and its first message (one statement on PG)."""
        history = mapping.history_rows(payment)
        if not self._db.is_postgres or len(history) != 1:
            if not SqlIdempotencyStore(self._db).claim(record, now):
                return False
            self.add(payment)
            SqlOutbox(self._db).add(message)
            return True
        rows = {"p_": mapping.payment_row(payment), "h_": history[0], "o_": mapping.outbox_row(message)}
        sql = accept_sql(self._db.engine.dialect, *(tuple(row) for row in rows.values()))
        params = {prefix + name: value for prefix, row in rows.items() for name, value in row.items()}
        params |= mapping.idempotency_row(record) | {"b_now": now}
        in_progress = IdempotencyInProgress("a request with this Idempotency-Key is in progress; retry shortly")
        stored = execute_accept(self._db, sql, params, in_progress)
        if stored:
            payment.mark_saved()
        return stored

    def get(self, payment_id: uuid.UUID) -> Payment | None:
        if self._db.is_postgres:
            return self._load_in_one_statement(load_sql(False), {"b_id": payment_id})
        return self._load(_SELECT_PAYMENT, {"b_id": payment_id})

    def get_owned(self, client_id: str, payment_id: uuid.UUID) -> Payment | None:
        if self._db.is_postgres:
            return self._load_in_one_statement(load_sql(True), {"b_id": payment_id, "b_client": client_id})
        return self._load(_SELECT_OWNED, {"b_id": payment_id, "b_client": client_id})

    def _load_in_one_statement(self, sql: str, params: dict[str, Any]) -> Payment | None:
        """The payment with its history and attempts in one round trip, straight to psycopg (ADR 0015)."""
        row = fetch_one(self._db, sql, params)
        if row is None:
            return None
        payment, history, attempts = loaded_rows(row)
        return mapping.payment_from_row(payment, history, attempts)  # type: ignore[arg-type]

    def _load(self, query: Select[Any], params: dict[str, Any]) -> Payment | None:
        row = self._db.execute(query, params).mappings().first()
        if row is None:
            return None
        params = {"b_id": params["b_id"]}
        history = self._db.execute(_SELECT_HISTORY, params).mappings().all()
        attempts = self._db.execute(_SELECT_ATTEMPTS, params).mappings().all()
        return mapping.payment_from_row(row, history, attempts)

    def save(self, payment: Payment, entry: JournalEntry | None = None) -> None:
        """Write the changes if ``payment.version`` is still current, else ``ConcurrentUpdate``.

        ``entry``: the journal entry of the money this change moved, written with it (one statement
        with everything else on PostgreSQL, ADR 0015).
        """
        stale = ConcurrentUpdate(f"payment {payment.id} changed since it was read")
        if self._db.is_postgres:
            self._save_in_one_statement(payment, entry, stale)
        else:
            self._save_statement_by_statement(payment, entry, stale)
        payment.mark_saved()
        payment.version += 1

    def _save_statement_by_statement(
        self, payment: Payment, entry: JournalEntry | None, stale: ConcurrentUpdate
    ) -> None:
        params = mapping.payment_changes(payment) | {"b_id": payment.id, "b_version": payment.version}
        # A lock wait that times out means another transaction is changing this payment right now.
        result = self._db.execute(_UPDATE_PAYMENT, params, lock_timeout=stale)
        if result.rowcount != 1:
            raise stale
        history = mapping.history_rows(payment)
        if history:
            self._db.execute(_INSERT_HISTORY, history)
            # Webhooks (issue 12): the events this change causes commit with it, or neither does.
            SqlWebhookRepository(self._db).record_payment_events(payment)
        if payment.touched_attempts:
            rows = [mapping.attempt_row(payment.id, payment.attempts[n - 1]) for n in sorted(payment.touched_attempts)]
            self._db.execute(_upsert_attempt(self._db.is_postgres), rows)
        if entry is not None:
            SqlLedgerRepository(self._db).add(entry)

    def _save_in_one_statement(self, payment: Payment, entry: JournalEntry | None, stale: ConcurrentUpdate) -> None:
        history = mapping.history_rows(payment)
        attempts = [mapping.attempt_row(payment.id, payment.attempts[n - 1]) for n in sorted(payment.touched_attempts)]
        events = [
            event_row(payment, event, change.at) for event, change in events_for(payment.history, payment.new_history)
        ]
        changes = mapping.payment_changes(payment)
        params = save_params(
            payment.id,
            payment.version,
            changes,
            history,
            attempts,
            events,
            entry_row(entry) if entry is not None else None,
            posting_rows(entry) if entry is not None else [],
        )
        sql = save_sql(tuple(changes), bool(history), bool(attempts), len(events), entry is not None)
        if not execute_save(self._db, sql, params, stale):
            raise stale

    def find_stalled(self, now: datetime, limit: int, idle_before: datetime) -> list[uuid.UUID]:
        params = {"b_now": now, "b_limit": limit, "b_idle_before": idle_before}
        rows = self._db.execute(_SELECT_STALLED, params)
        return list(rows.scalars())

    def find_parked(self, limit: int) -> list[uuid.UUID]:
        rows = self._db.execute(_SELECT_PARKED, {"b_limit": limit})
        return list(rows.scalars())

    def count_parked(self) -> int:
        return int(self._db.execute(_COUNT_PARKED).scalar_one())

    def find_stuck(self, untouched_since: datetime, limit: int) -> list[uuid.UUID]:
        rows = self._db.execute(_SELECT_STUCK, {"b_before": untouched_since, "b_limit": limit})
        return list(rows.scalars())
