"""Webhooks in SQL: endpoints, events written in the payment's own transaction, deliveries and attempts.

``record_payment_events`` is the outbox: ``SqlPaymentRepository.save`` calls it, so an event commits
with the status change that causes it, or neither does. Endpoint secrets are sealed at rest with the
``SecretBox`` (bound to the endpoint id and column), as API client secrets are.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

import msgspec
from sqlalchemy import RowMapping, and_, bindparam, literal, or_, select, update

from flosspay.adapters.http.views import status_body
from flosspay.adapters.persistence.clients import SecretsUnavailable
from flosspay.adapters.persistence.column_types import UtcDateTime
from flosspay.adapters.persistence.connection import GuardedConnection, upsert_insert
from flosspay.adapters.persistence.tables import (
    webhook_attempts,
    webhook_deliveries,
    webhook_endpoints,
    webhook_events,
)
from flosspay.adapters.secret_box import SecretBox, SecretBoxError
from flosspay.domain.ledger import payment_entry_id
from flosspay.domain.money import Money
from flosspay.domain.payment import Payment, PaymentStatus
from flosspay.domain.webhooks import (
    AttemptOutcome,
    AttemptRecord,
    BreakerRule,
    BreakerState,
    Delivery,
    DeliveryStatus,
    DueDelivery,
    EventType,
    WebhookEndpoint,
    WebhookEvent,
    breaker_after,
    breaker_half_open,
    event_id,
    events_for,
)

_d, _e, _v, _a = webhook_deliveries.c, webhook_endpoints.c, webhook_events.c, webhook_attempts.c
_now = bindparam("b_now", type_=UtcDateTime())
logger = logging.getLogger("flosspay.webhooks")

UNOPENABLE_WAIT = timedelta(minutes=5)
"""How long deliveries to an endpoint whose secret does not open are set aside before the next try."""

_FINISH_DELIVERY = (
    update(webhook_deliveries)
    .where(
        _d.id == bindparam("b_id"),
        _d.claim == bindparam("b_claim"),
        _d.status == DeliveryStatus.PENDING.value,
    )
    .values(
        attempts=_d.attempts + 1,
        status=bindparam("b_status"),
        next_attempt_at=bindparam("b_next", type_=UtcDateTime()),
        finished_at=bindparam("b_finished", type_=UtcDateTime()),
        claim=None,
    )
)


def _events_column(events: Sequence[EventType]) -> str:
    return " " + " ".join(e.value for e in events) + " "


def _context(endpoint_id: str, column: str) -> str:
    """Associated data of a sealed secret: a value copied to another row or column does not open."""
    return f"webhook_endpoints.{column}:{endpoint_id}"


def _sealed_secrets(ep: WebhookEndpoint, box: SecretBox) -> dict[str, Any]:
    key_id, sealed = box.seal(ep.secret, _context(ep.id, "secret"))
    previous_key_id = previous = None
    if ep.previous_secret is not None:
        previous_key_id, previous = box.seal(ep.previous_secret, _context(ep.id, "previous_secret"))
    return {
        "secret": sealed,
        "secret_key_id": key_id,
        "previous_secret": previous,
        "previous_secret_key_id": previous_key_id,
    }


def _open(row: RowMapping, endpoint_id: str, column: str, box: SecretBox) -> str:
    return box.open(row[f"{column}_key_id"], row[column], _context(endpoint_id, column))


def _endpoint_row(ep: WebhookEndpoint, box: SecretBox) -> dict[str, Any]:
    return _sealed_secrets(ep, box) | {
        "id": ep.id,
        "client_id": ep.client_id,
        "url": ep.url,
        "events": _events_column(ep.events),
        "description": ep.description,
        "enabled": ep.enabled,
        "disabled_reason": ep.disabled_reason,
        "previous_secret_expires_at": ep.previous_secret_expires_at,
        "created_at": ep.created_at,
        "updated_at": ep.updated_at,
        "consecutive_failures": ep.breaker.failures,
        "breaker_open_until": ep.breaker.open_until,
    }


def _endpoint(row: RowMapping, box: SecretBox) -> WebhookEndpoint:
    return WebhookEndpoint(
        id=row["id"],
        client_id=row["client_id"],
        url=row["url"],
        events=tuple(EventType(name) for name in row["events"].split()),
        description=row["description"],
        enabled=bool(row["enabled"]),
        disabled_reason=row["disabled_reason"],
        secret=_open(row, row["id"], "secret", box),
        previous_secret=_open(row, row["id"], "previous_secret", box) if row["previous_secret"] is not None else None,
        previous_secret_expires_at=row["previous_secret_expires_at"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        breaker=BreakerState(row["consecutive_failures"], row["breaker_open_until"]),
    )


def _event(row: RowMapping) -> WebhookEvent:
    return WebhookEvent(
        id=row["id"],
        client_id=row["client_id"],
        payment_id=row["payment_id"],
        type=EventType(row["type"]),
        created_at=row["created_at"],
        payload=bytes(row["payload"]),
    )


def event_payload(payment: Payment, event: EventType, at: datetime) -> bytes:
    """``{"type","timestamp","data"}`` with ``data`` the payment exactly as ``GET …/status`` shows it."""
    ledger = str(payment_entry_id(payment.id)) if payment.status is PaymentStatus.COMPLETED else None
    # No refund can exist yet: a payment's events are written with the status change that ends it.
    data = msgspec.Raw(status_body(payment, ledger, Money(0, payment.amount.currency).format(), []))
    return msgspec.json.encode({"type": event.value, "timestamp": at, "data": data})


def payment_event(payment: Payment, event: EventType, at: datetime) -> WebhookEvent:
    return WebhookEvent(
        id=event_id(payment.id, event),
        client_id=payment.client_id,
        payment_id=payment.id,
        type=event,
        created_at=at,
        payload=event_payload(payment, event, at),
    )


def event_row(payment: Payment, event: EventType, at: datetime) -> dict[str, Any]:
    """The event's row (``payment_event``'s fields), and ``pattern``: the LIKE that finds the endpoints
    subscribed to it. Built directly, not through the struct: one per completed payment (ADR 0022)."""
    return {
        "id": event_id(payment.id, event),
        "client_id": payment.client_id,
        "payment_id": payment.id,
        "type": event.value,
        "created_at": at,
        "payload": event_payload(payment, event, at),
        "pattern": f"% {event.value} %",
    }


_LIVE_ENDPOINT = and_(_e.client_id == bindparam("b_client"), _e.deleted_at.is_(None))
_SELECT_ENDPOINT = select(webhook_endpoints).where(_LIVE_ENDPOINT, _e.id == bindparam("b_id"))
_SELECT_ENDPOINTS = select(webhook_endpoints).where(_LIVE_ENDPOINT).order_by(_e.created_at, _e.id)
_DELIVERY_COLUMNS = (_d.id, _d.event_id, _d.endpoint_id, _d.status, _d.attempts, _d.next_attempt_at, _d.created_at)
_SELECT_DELIVERIES = (
    select(*_DELIVERY_COLUMNS, _d.finished_at, _e.url)
    .join(webhook_endpoints, _e.id == _d.endpoint_id)
    .where(_d.event_id.in_(bindparam("b_ids", expanding=True)))
    .order_by(_d.id)
)


class SqlWebhookRepository:
    def __init__(self, db: GuardedConnection, box: SecretBox | None = None) -> None:
        self._db = db
        self._box = box

    @property
    def box(self) -> SecretBox:
        if self._box is None:
            raise SecretsUnavailable("webhook secrets need the server's key (SqlUnitOfWorkFactory(secret_box=…))")
        return self._box

    # --- the outbox ---------------------------------------------------------------------------

    def record_payment_events(self, payment: Payment) -> None:
        """Write the events ``payment``'s unsaved history causes, and a delivery per subscribed endpoint."""
        for event, change in events_for(payment.history, payment.new_history):
            self.add_event(payment_event(payment, event, change.at))

    def add_event(self, event: WebhookEvent) -> int:
        """Store ``event`` (once: its id is deterministic) and fan it out; returns the deliveries made."""
        insert = upsert_insert(webhook_events, self._db.is_postgres).on_conflict_do_nothing().returning(_v.id)
        row = msgspec.structs.asdict(event) | {"type": event.type.value}
        if self._db.execute(insert, row).first() is None:  # stored before: its deliveries exist already
            return 0
        subscribers = select(
            literal(event.id),
            _e.id,
            literal(DeliveryStatus.PENDING.value),
            literal(0),
            literal(event.created_at, UtcDateTime()),
            literal(event.created_at, UtcDateTime()),
        ).where(
            _e.client_id == event.client_id,
            _e.enabled.is_(True),
            _e.deleted_at.is_(None),
            _e.events.like(f"% {event.type.value} %"),
        )
        fan_out = webhook_deliveries.insert().from_select(
            ["event_id", "endpoint_id", "status", "attempts", "next_attempt_at", "created_at"], subscribers
        )
        return int(self._db.execute(fan_out).rowcount or 0)

    # --- endpoints ----------------------------------------------------------------------------

    def add_endpoint(self, endpoint: WebhookEndpoint) -> None:
        self._db.execute(webhook_endpoints.insert(), _endpoint_row(endpoint, self.box))

    def get_endpoint(self, client_id: str, endpoint_id: str) -> WebhookEndpoint | None:
        row = self._db.execute(_SELECT_ENDPOINT, {"b_client": client_id, "b_id": endpoint_id}).mappings().first()
        return _endpoint(row, self.box) if row is not None else None

    def list_endpoints(self, client_id: str) -> list[WebhookEndpoint]:
        return [_endpoint(r, self.box) for r in self._db.execute(_SELECT_ENDPOINTS, {"b_client": client_id}).mappings()]

    def update_endpoint(self, endpoint: WebhookEndpoint, reset_breaker: bool = False) -> None:
        """Write what a merchant may change; the breaker is the sender's, unless re-enabling resets it."""
        row = _endpoint_row(endpoint, self.box)
        for fixed in ("id", "client_id", "created_at", "consecutive_failures", "breaker_open_until"):
            row.pop(fixed)
        if reset_breaker:
            row |= {"consecutive_failures": 0, "breaker_open_until": None}
        self._db.execute(update(webhook_endpoints).where(_e.id == endpoint.id).values(**row))

    def delete_endpoint(self, client_id: str, endpoint_id: str, now: datetime) -> bool:
        """Soft delete (the delivery log keeps naming it); its pending deliveries end as FAILED."""
        done = self._db.execute(
            update(webhook_endpoints)
            .where(_e.id == endpoint_id, _e.client_id == client_id, _e.deleted_at.is_(None))
            .values(deleted_at=now, enabled=False, disabled_reason="deleted", updated_at=now)
        )
        if done.rowcount != 1:
            return False
        self._db.execute(
            update(webhook_deliveries)
            .where(_d.endpoint_id == endpoint_id, _d.status == DeliveryStatus.PENDING.value)
            .values(status=DeliveryStatus.FAILED.value, finished_at=now, next_attempt_at=None, claim=None)
        )
        return True

    def reseal_all(self) -> int:
        """Seal every endpoint's secrets (deleted ones too) under the current key; how many were not."""
        stale = 0
        for row in self._db.execute(select(webhook_endpoints).order_by(_e.id)).mappings().all():
            keys = {row["secret_key_id"], row["previous_secret_key_id"]} - {None}
            if all(self.box.is_current(k) for k in keys):
                continue
            sealed = _sealed_secrets(_endpoint(row, self.box), self.box)
            self._db.execute(update(webhook_endpoints).where(_e.id == row["id"]).values(**sealed))
            stale += 1
        return stale

    # --- the delivery log ---------------------------------------------------------------------

    def list_events(self, client_id: str, payment_id: uuid.UUID | None, limit: int) -> list[WebhookEvent]:
        query = select(webhook_events).where(_v.client_id == client_id)
        if payment_id is not None:
            query = query.where(_v.payment_id == payment_id)
        query = query.order_by(_v.created_at.desc(), _v.id).limit(limit)
        return [_event(r) for r in self._db.execute(query).mappings()]

    def get_event(self, client_id: str, event_id_: str) -> WebhookEvent | None:
        query = select(webhook_events).where(_v.client_id == client_id, _v.id == event_id_)
        row = self._db.execute(query).mappings().first()
        return _event(row) if row is not None else None

    def deliveries(self, event_ids: Sequence[str]) -> list[Delivery]:
        if not event_ids:
            return []
        rows = self._db.execute(_SELECT_DELIVERIES, {"b_ids": list(event_ids)}).mappings()
        return [
            Delivery(
                id=r["id"],
                event_id=r["event_id"],
                endpoint_id=r["endpoint_id"],
                url=r["url"],
                status=DeliveryStatus(r["status"]),
                attempts=r["attempts"],
                next_attempt_at=r["next_attempt_at"],
                created_at=r["created_at"],
                finished_at=r["finished_at"],
            )
            for r in rows
        ]

    def attempts(self, event_id_: str) -> list[AttemptRecord]:
        query = select(webhook_attempts).where(_a.event_id == event_id_).order_by(_a.id)
        return [
            AttemptRecord(
                delivery_id=r["delivery_id"],
                event_id=r["event_id"],
                endpoint_id=r["endpoint_id"],
                url=r["url"],
                attempted_at=r["attempted_at"],
                duration_ms=r["duration_ms"],
                response_status=r["response_status"],
                response_body=r["response_body"],
                error=r["error"],
                next_attempt_at=r["next_attempt_at"],
            )
            for r in self._db.execute(query).mappings()
        ]

    def redeliver(self, event: WebhookEvent, now: datetime) -> int:
        """Every subscribed live endpoint gets the event again now (a fresh retry budget); returns how many."""
        self._db.execute(
            update(webhook_deliveries)
            .where(
                _d.event_id == event.id,
                _d.endpoint_id.in_(select(_e.id).where(_e.deleted_at.is_(None), _e.enabled.is_(True))),
            )
            .values(status=DeliveryStatus.PENDING.value, attempts=0, next_attempt_at=now, finished_at=None, claim=None)
        )
        existing = select(_d.endpoint_id).where(_d.event_id == event.id)
        missing = select(
            literal(event.id),
            _e.id,
            literal(DeliveryStatus.PENDING.value),
            literal(0),
            literal(now, UtcDateTime()),
            literal(now, UtcDateTime()),
        ).where(
            _e.client_id == event.client_id,
            _e.enabled.is_(True),
            _e.deleted_at.is_(None),
            _e.events.like(f"% {event.type.value} %"),
            _e.id.not_in(existing),
        )
        self._db.execute(
            webhook_deliveries.insert().from_select(
                ["event_id", "endpoint_id", "status", "attempts", "next_attempt_at", "created_at"], missing
            )
        )
        count = select(_d.id).where(_d.event_id == event.id, _d.status == DeliveryStatus.PENDING.value)
        return len(self._db.execute(count).all())

    # --- the sender's side --------------------------------------------------------------------

    def claim_due(
        self, now: datetime, limit: int, lease_until: datetime, claim: str, rule: BreakerRule
    ) -> list[DueDelivery]:
        """Take up to ``limit`` due deliveries whose endpoint's breaker lets them through.

        They stay PENDING with ``next_attempt_at = lease_until``: if this sender dies, they fall due
        again then (same event id, so receivers deduplicate). A tripped endpoint gets one probe.
        """
        query = (
            select(
                _d.id,
                _d.event_id,
                _d.endpoint_id,
                _d.attempts,
                _e.url,
                _e.secret,
                _e.secret_key_id,
                _e.previous_secret,
                _e.previous_secret_key_id,
                _e.previous_secret_expires_at,
                _e.consecutive_failures,
                _v.payload,
            )
            .join(webhook_endpoints, _e.id == _d.endpoint_id)
            .join(webhook_events, _v.id == _d.event_id)
            .where(
                _d.status == DeliveryStatus.PENDING.value,
                _d.next_attempt_at <= _now,
                _e.enabled.is_(True),
                _e.deleted_at.is_(None),
                or_(_e.breaker_open_until.is_(None), _e.breaker_open_until <= _now),
            )
            .order_by(_d.next_attempt_at, _d.id)
            .limit(limit)
        )
        if self._db.is_postgres:
            query = query.with_for_update(skip_locked=True, of=webhook_deliveries)
        rows = self._db.execute(query, {"b_now": now}).mappings().all()
        taken: list[DueDelivery] = []
        probing: set[str] = set()
        unopenable: set[str] = set()
        postponed: list[int] = []
        for r in rows:
            endpoint = r["endpoint_id"]
            if breaker_half_open(rule, BreakerState(r["consecutive_failures"], None)):
                if endpoint in probing:
                    continue
                probing.add(endpoint)
            try:
                secrets_ = [_open(r, endpoint, "secret", self.box)]
                expires = r["previous_secret_expires_at"]
                if r["previous_secret"] and expires is not None and expires > now:
                    secrets_.append(_open(r, endpoint, "previous_secret", self.box))
            except SecretBoxError as exc:
                # One endpoint whose secret this server cannot open (a key left out after a
                # rotation) must not hold up everyone else's deliveries: set it aside, loudly.
                if endpoint not in unopenable:
                    logger.error("webhook endpoint %s: %s; its deliveries wait %s", endpoint, exc, UNOPENABLE_WAIT)
                unopenable.add(endpoint)
                postponed.append(r["id"])
                continue
            taken.append(
                DueDelivery(
                    delivery_id=r["id"],
                    claim=claim,
                    event_id=r["event_id"],
                    endpoint_id=endpoint,
                    url=r["url"],
                    payload=bytes(r["payload"]),
                    secrets=tuple(secrets_),
                    attempts=r["attempts"],
                )
            )
        if postponed:  # still PENDING, attempts unchanged: they go out once the key is configured
            self._db.execute(
                update(webhook_deliveries).where(_d.id.in_(postponed)).values(next_attempt_at=now + UNOPENABLE_WAIT)
            )
        if probing:  # hold a tripped endpoint shut while its one probe is in flight
            self._db.execute(
                update(webhook_endpoints).where(_e.id.in_(sorted(probing))).values(breaker_open_until=lease_until)
            )
        if taken:
            self._db.execute(
                update(webhook_deliveries)
                .where(_d.id.in_([t.delivery_id for t in taken]))
                .values(next_attempt_at=lease_until, claim=claim)
            )
        return taken

    def finish(self, outcomes: Sequence[AttemptOutcome], rule: BreakerRule) -> None:
        """Log the attempts, move each delivery on (if its sender still holds it), update the breakers.

        Three statements for the whole batch plus two per endpoint, locked in endpoint id order.
        """
        if not outcomes:
            return
        self._db.execute(webhook_attempts.insert(), [msgspec.structs.asdict(o.attempt) for o in outcomes])
        rows = [
            {
                "b_id": o.due.delivery_id,
                "b_claim": o.due.claim,
                "b_status": o.status.value,
                "b_next": o.attempt.next_attempt_at,
                "b_finished": o.attempt.attempted_at if o.status is not DeliveryStatus.PENDING else None,
            }
            for o in outcomes
        ]
        self._db.execute(_FINISH_DELIVERY, rows)
        by_endpoint: dict[str, list[AttemptOutcome]] = {}
        for o in outcomes:
            by_endpoint.setdefault(o.due.endpoint_id, []).append(o)
        for endpoint_id in sorted(by_endpoint):
            query = select(_e.consecutive_failures, _e.breaker_open_until).where(_e.id == endpoint_id)
            if self._db.is_postgres:
                query = query.with_for_update()
            row = self._db.execute(query).first()
            if row is None:
                continue
            state = BreakerState(int(row.consecutive_failures), row.breaker_open_until)
            gone = False
            for o in sorted(by_endpoint[endpoint_id], key=lambda o: o.attempt.attempted_at):
                state = breaker_after(rule, state, o.succeeded, o.attempt.attempted_at)
                gone = gone or o.gone
            values: dict[str, Any] = {"consecutive_failures": state.failures, "breaker_open_until": state.open_until}
            if gone:
                values |= {"enabled": False, "disabled_reason": "the endpoint answered 410 Gone"}
            self._db.execute(update(webhook_endpoints).where(_e.id == endpoint_id).values(**values))
