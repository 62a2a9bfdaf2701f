"""The refund aggregate in SQL (issue 13): its row, append-only history and attempts, and the reservation.

The reservation is the database's guard against over-refunding: ``reserve`` is one UPDATE of the
payment whose WHERE admits it only while the total stays within the amount (and a CHECK forbids any
other outcome), so however many API processes race on one payment, the rows decide. On PostgreSQL a
concurrent reservation waits for the row lock and re-checks the WHERE against the committed row; on
SQLite writers are serialised (``BEGIN IMMEDIATE``).
"""

from __future__ import annotations

import functools
import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import msgspec
from sqlalchemy import (
    BigInteger,
    BindParameter,
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
from sqlalchemy.engine import RowMapping

from flosspay.adapters.http.refund_views import refund_detail_body
from flosspay.adapters.persistence.column_types import UtcDateTime
from flosspay.adapters.persistence.connection import GuardedConnection, upsert_insert
from flosspay.adapters.persistence.tables import outbox, payments, refund_attempts, refund_history, refunds
from flosspay.adapters.persistence.webhooks import SqlWebhookRepository
from flosspay.domain.errors import ConcurrentUpdate, ServiceUnavailable
from flosspay.domain.ledger import refund_entry_id
from flosspay.domain.money import Money
from flosspay.domain.payment import AttemptOutcome, RailAttempt
from flosspay.domain.refund import Refund, RefundChange, RefundStatus, refund_events
from flosspay.domain.webhooks import EventType, WebhookEvent, event_id

_CHANGED = (
    "status",
    "updated_at",
    "failure_code",
    "failure_reason",
    "rail_reference",
    "lease_owner",
    "lease_expires_at",
    "parked_at",
    "parked_reason",
    "attempt_floor",
)
_amount: BindParameter[int] = bindparam("b_amount", type_=BigInteger())
_RESERVE: Update = (
    update(payments)
    .where(
        payments.c.id == bindparam("b_id"),
        payments.c.status == literal_column("'COMPLETED'"),
        payments.c.refund_reserved_minor + _amount <= payments.c.amount_minor,
    )
    .values(refund_reserved_minor=payments.c.refund_reserved_minor + _amount)
)
_RELEASE: Update = (
    update(payments)
    .where(payments.c.id == bindparam("b_id"))
    .values(refund_reserved_minor=payments.c.refund_reserved_minor - _amount)
)
_RESERVED = select(payments.c.refund_reserved_minor).where(payments.c.id == bindparam("b_id"))
_INSERT = refunds.insert()
_INSERT_HISTORY = refund_history.insert()
_SELECT = select(refunds).where(refunds.c.id == bindparam("b_id"))
_SELECT_OWNED = select(refunds).where(refunds.c.id == bindparam("b_id"), refunds.c.client_id == bindparam("b_client"))
_BY_PAYMENT = (
    select(refunds).where(refunds.c.payment_id == bindparam("b_payment")).order_by(refunds.c.created_at, refunds.c.id)
)
_BY_CLIENT = (
    select(refunds)
    .where(refunds.c.client_id == bindparam("b_client"))
    .order_by(refunds.c.created_at.desc(), refunds.c.id.desc())
    .limit(bindparam("b_limit"))
)
_HISTORY = (
    select(refund_history)
    .where(refund_history.c.refund_id.in_(bindparam("b_ids", expanding=True)))
    .order_by(refund_history.c.refund_id, refund_history.c.seq)
)
_ATTEMPTS = (
    select(refund_attempts)
    .where(refund_attempts.c.refund_id.in_(bindparam("b_ids", expanding=True)))
    .order_by(refund_attempts.c.refund_id, refund_attempts.c.number)
)
_UPDATE: Update = (
    update(refunds)
    .where(refunds.c.id == bindparam("b_id"), refunds.c.version == bindparam("b_version"))
    .values({**{name: bindparam(name) for name in _CHANGED}, "version": refunds.c.version + 1})
)
_now = bindparam("b_now", type_=UtcDateTime())
_idle_before = bindparam("b_idle_before", type_=UtcDateTime())


def _no_outbox_since(since: Any) -> Any:
    """No message for the refund is waiting, and none was handed to the broker after ``since``."""
    return ~exists().where(
        outbox.c.refund_id == refunds.c.id,
        or_(outbox.c.dispatched_at.is_(None), outbox.c.dispatched_at >= since),
    )


_SELECT_STALLED: Select[tuple[uuid.UUID]] = (
    select(refunds.c.id)
    .where(
        refunds.c.status.in_(("PENDING", "PROCESSING")),
        refunds.c.parked_at.is_(None),
        or_(
            and_(
                refunds.c.status == literal_column("'PROCESSING'"),
                refunds.c.lease_expires_at < _now,
                _no_outbox_since(refunds.c.lease_expires_at),
            ),
            and_(
                or_(refunds.c.lease_expires_at.is_(None), refunds.c.lease_expires_at < _now),
                refunds.c.updated_at < _idle_before,
                _no_outbox_since(_idle_before),
            ),
        ),
    )
    .order_by(func.coalesce(refunds.c.lease_expires_at, refunds.c.updated_at))
    .limit(bindparam("b_limit"))
)
_SELECT_PARKED: Select[tuple[uuid.UUID]] = (
    select(refunds.c.id)
    .where(refunds.c.parked_at.is_not(None))
    .order_by(refunds.c.parked_at)
    .limit(bindparam("b_limit"))
)


@functools.cache
def _upsert_attempt(is_postgres: bool) -> Executable:
    insert = upsert_insert(refund_attempts, is_postgres)
    changed = ("action", "outcome", "code", "reason", "started_at", "finished_at")
    return insert.on_conflict_do_update(
        index_elements=[refund_attempts.c.refund_id, refund_attempts.c.number],
        set_={name: insert.excluded[name] for name in changed},
    )


def _row(refund: Refund) -> dict[str, Any]:
    return {
        "id": refund.id,
        "payment_id": refund.payment_id,
        "client_id": refund.client_id,
        "amount_minor": refund.amount.minor,
        "currency": refund.amount.currency,
        "reason": refund.reason,
        "created_at": refund.created_at,
        "version": refund.version,
        **_changes(refund),
    }


def _changes(refund: Refund) -> dict[str, Any]:
    return {
        "status": refund.status.value,
        "updated_at": refund.updated_at,
        "failure_code": refund.failure_code,
        "failure_reason": refund.failure_reason,
        "rail_reference": refund.rail_reference,
        "lease_owner": refund.lease_owner,
        "lease_expires_at": refund.lease_expires_at,
        "parked_at": refund.parked_at,
        "parked_reason": refund.parked_reason,
        "attempt_floor": refund.attempt_floor,
    }


def _history_rows(refund: Refund) -> list[dict[str, Any]]:
    first = len(refund.history) - len(refund.new_history)
    return [
        {
            "refund_id": refund.id,
            "seq": first + offset,
            "from_status": c.from_status.value if c.from_status is not None else None,
            "to_status": c.to_status.value,
            "at": c.at,
            "reason": c.reason,
            "attempt": c.attempt,
        }
        for offset, c in enumerate(refund.new_history)
    ]


def _attempt_row(refund_id: uuid.UUID, attempt: RailAttempt) -> dict[str, Any]:
    return {
        "refund_id": refund_id,
        "number": attempt.number,
        "action": attempt.action,
        "outcome": attempt.outcome.value,
        "code": attempt.code,
        "reason": attempt.reason,
        "started_at": attempt.started_at,
        "finished_at": attempt.finished_at,
    }


def _from_rows(row: RowMapping, history: Sequence[RowMapping], attempts: Sequence[RowMapping]) -> Refund:
    return Refund(
        id=row["id"],
        payment_id=row["payment_id"],
        client_id=row["client_id"],
        amount=Money(row["amount_minor"], row["currency"]),
        reason=row["reason"],
        status=RefundStatus(row["status"]),
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        failure_code=row["failure_code"],
        failure_reason=row["failure_reason"],
        rail_reference=row["rail_reference"],
        lease_owner=row["lease_owner"],
        lease_expires_at=row["lease_expires_at"],
        version=row["version"],
        parked_at=row["parked_at"],
        parked_reason=row["parked_reason"],
        attempt_floor=row["attempt_floor"],
        history=[
            RefundChange(
                RefundStatus(h["from_status"]) if h["from_status"] is not None else None,
                RefundStatus(h["to_status"]),
                h["at"],
                h["reason"],
                h["attempt"],
            )
            for h in history
        ],
        attempts=[
            RailAttempt(
                number=a["number"],
                started_at=a["started_at"],
                outcome=AttemptOutcome(a["outcome"]),
                code=a["code"],
                reason=a["reason"],
                finished_at=a["finished_at"],
                action=a["action"],
            )
            for a in attempts
        ],
    )


def refund_event_payload(refund: Refund, event: EventType, at: datetime) -> bytes:
    """``{"type","timestamp","data"}`` with ``data`` the refund exactly as ``GET /refunds/{id}`` shows it."""
    entry = str(refund_entry_id(refund.id)) if refund.status is RefundStatus.SUCCEEDED else None
    data = msgspec.Raw(refund_detail_body(refund, entry))
    return msgspec.json.encode({"type": event.value, "timestamp": at, "data": data})


class SqlRefundRepository:
    def __init__(self, db: GuardedConnection) -> None:
        self._db = db

    # --- the reservation on the payment -------------------------------------------------------

    def reserve(self, payment_id: uuid.UUID, amount_minor: int) -> bool:
        busy = ServiceUnavailable("another request is refunding this payment right now; retry shortly")
        result = self._db.execute(_RESERVE, {"b_id": payment_id, "b_amount": amount_minor}, lock_timeout=busy)
        return result.rowcount == 1

    def release(self, payment_id: uuid.UUID, amount_minor: int) -> None:
        result = self._db.execute(_RELEASE, {"b_id": payment_id, "b_amount": amount_minor})
        if result.rowcount != 1:
            raise ConcurrentUpdate(f"payment {payment_id} not found while releasing a refund's reservation")

    def reserved(self, payment_id: uuid.UUID) -> int:
        value = self._db.execute(_RESERVED, {"b_id": payment_id}).scalar()
        return int(value or 0)

    # --- the aggregate ----------------------------------------------------------------------------

    def add(self, refund: Refund) -> None:
        self._db.execute(_INSERT, _row(refund))
        self._write_children(refund)
        refund.mark_saved()

    def _write_children(self, refund: Refund) -> None:
        history = _history_rows(refund)
        if history:
            self._db.execute(_INSERT_HISTORY, history)
        if refund.touched_attempts:
            rows = [_attempt_row(refund.id, refund.attempts[n - 1]) for n in sorted(refund.touched_attempts)]
            self._db.execute(_upsert_attempt(self._db.is_postgres), rows)

    def get(self, refund_id: uuid.UUID) -> Refund | None:
        found = self._load(_SELECT, {"b_id": refund_id})
        return found[0] if found else None

    def get_owned(self, client_id: str, refund_id: uuid.UUID) -> Refund | None:
        found = self._load(_SELECT_OWNED, {"b_id": refund_id, "b_client": client_id})
        return found[0] if found else None

    def for_payment(self, payment_id: uuid.UUID) -> list[Refund]:
        return self._load(_BY_PAYMENT, {"b_payment": payment_id})

    def for_client(self, client_id: str, limit: int) -> list[Refund]:
        return self._load(_BY_CLIENT, {"b_client": client_id, "b_limit": limit})

    def _load(self, query: Select[Any], params: dict[str, Any]) -> list[Refund]:
        rows = self._db.execute(query, params).mappings().all()
        if not rows:
            return []
        ids = [row["id"] for row in rows]
        history: dict[uuid.UUID, list[RowMapping]] = {i: [] for i in ids}
        attempts: dict[uuid.UUID, list[RowMapping]] = {i: [] for i in ids}
        for h in self._db.execute(_HISTORY, {"b_ids": ids}).mappings():
            history[h["refund_id"]].append(h)
        for a in self._db.execute(_ATTEMPTS, {"b_ids": ids}).mappings():
            attempts[a["refund_id"]].append(a)
        return [_from_rows(row, history[row["id"]], attempts[row["id"]]) for row in rows]

    def save(self, refund: Refund) -> None:
        stale = ConcurrentUpdate(f"refund {refund.id} changed since it was read")
        params = _changes(refund) | {"b_id": refund.id, "b_version": refund.version}
        result = self._db.execute(_UPDATE, params, lock_timeout=stale)
        if result.rowcount != 1:
            raise stale
        events = refund_events(refund)
        self._write_children(refund)
        if events:
            # Webhooks: the event a final status causes commits with it, or neither does.
            hooks = SqlWebhookRepository(self._db)
            for name, change in events:
                kind = EventType(name)
                hooks.add_event(
                    WebhookEvent(
                        id=event_id(refund.id, kind),
                        client_id=refund.client_id,
                        payment_id=refund.payment_id,
                        type=kind,
                        created_at=change.at,
                        payload=refund_event_payload(refund, kind, change.at),
                    )
                )
        refund.mark_saved()
        refund.version += 1

    # --- the sweeps -------------------------------------------------------------------------------

    def find_stalled(self, now: datetime, limit: int, idle_before: datetime) -> list[uuid.UUID]:
        params = {"b_now": now, "b_limit": limit, "b_idle_before": idle_before}
        return list(self._db.execute(_SELECT_STALLED, params).scalars())

    def find_parked(self, limit: int) -> list[uuid.UUID]:
        return list(self._db.execute(_SELECT_PARKED, {"b_limit": limit}).scalars())
