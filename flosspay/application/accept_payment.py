"""Accept a payment exactly once: validate, then one transaction for key, payment, history and outbox.

The hot path of FlossPay, and its one intake: every method and every entry point (``/payments``
and the UPI shortcuts ``/pay`` and ``/collect`` alike) arrives here as one ``PaymentIntent``.
Everything that can be decided without the database (validation, rail rules, the answer's bytes)
is decided first, so the transaction is a handful of inserts.

Two things are the adapter's and injected (ADR 0017): ``decode`` turns the request's rail fields
into the rail's Struct, naming a bad field as the client wrote it; ``render`` turns the accepted
payment into the answer the client gets, which is stored so a replay is the same answer, byte for byte.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any, Protocol

import msgspec

from flosspay.application.policies import IntakePolicy
from flosspay.domain.chain import MAX_ACCOUNT_LENGTH
from flosspay.domain.errors import FieldError, IdempotencyInProgress, ValidationFailed
from flosspay.domain.idempotency import Answer, IdempotencyRecord, decide
from flosspay.domain.ledger import Unrecordable, accounts_for, rail_accounts
from flosspay.domain.money import parse_money
from flosspay.domain.outbox import TOPIC_PROCESS, OutboxMessage
from flosspay.domain.payment import Flow, Payment
from flosspay.domain.ports import Clock, RailRegistry, UnitOfWorkFactory

MAX_NOTE_LENGTH = 255


class PaymentIntent(msgspec.Struct, frozen=True):
    """The one accept-payment command: a merchant's request to move money, decoded by an adapter.

    ``fields`` are the rail's own fields as the client sent them (not yet validated by any rule).
    """

    client_id: str
    idempotency_key: str
    fingerprint: str
    method: str
    flow: Flow
    amount: Decimal | int
    currency: str
    fields: dict[str, Any]
    note: str | None = None
    expires_in_minutes: int | None = None
    request_id: str | None = None


class PaymentAccepted(msgspec.Struct, frozen=True):
    """What intake decided: the payment, and the answer stored for its key (``replayed``: a repeat's)."""

    payment_id: str | None
    flow: Flow
    answer: Answer
    replayed: bool = False


class FieldDecoder(Protocol):
    """The request's rail fields as the rail's Struct, or ``ValidationFailed`` naming the field as sent."""

    def __call__(self, fields: Mapping[str, Any], type_: type[msgspec.Struct], /) -> msgspec.Struct: ...


Renderer = Callable[[Payment], Answer]
"""The answer a newly accepted payment gets (and every replay of its request)."""


def _field_of(fields: Mapping[str, Any], segments: tuple[str, ...], prefix: str) -> str:
    """The request field (dotted, as the client sent it) whose value a rail put into an account, else the body."""
    wanted = {s.lower() for s in segments if isinstance(s, str)}
    for name, value in fields.items():
        if isinstance(value, str) and value.lower() in wanted:
            return prefix + name
        if isinstance(value, dict):
            for inner, item in value.items():
                if isinstance(item, str) and item.lower() in wanted:
                    return f"{prefix}{name}.{inner}"
    return prefix.rstrip(".") or "body"


def unstorable_fields(
    unrecordable: list[Unrecordable], fields: Mapping[str, Any], prefix: str = ""
) -> list[FieldError]:
    """Whatever a rail accepted that the ledger could not record once money moved (any rail, ours or not).

    A payment refused here never reaches the rail; one let through could be debited and then never
    recorded, so this check is the core's, not left to each rail's validation. ``unrecordable``:
    what ``rail_accounts`` found.
    """
    errors = []
    for segments, name in unrecordable:
        field = _field_of(fields, segments, prefix)
        over = len(name) - MAX_ACCOUNT_LENGTH
        if over > 0:
            message = f"is too long to be recorded: its ledger account would be {over} character(s) over the limit"
        else:
            message = "cannot be recorded: it makes no valid ledger account name"
        errors.append(FieldError(field, message))
    return errors


def accept_payment(
    intent: PaymentIntent,
    *,
    uow_factory: UnitOfWorkFactory,
    rails: RailRegistry,
    clock: Clock,
    policy: IntakePolicy,
    decode: FieldDecoder,
    render: Renderer,
    new_id: Callable[[], uuid.UUID] = uuid.uuid4,
) -> PaymentAccepted:
    rail = rails.by_method(intent.method)
    if rail is None:
        enabled = ", ".join(rails.methods()) or "none"
        message = f"unknown or disabled method {intent.method!r}; enabled: {enabled}"
        raise ValidationFailed([FieldError("method", message)])
    if intent.flow not in rail.flows:
        raise ValidationFailed([FieldError("method", f"{rail.method} does not support {intent.flow.value.lower()}")])
    errors: list[FieldError] = []
    money = None
    try:
        money = parse_money(intent.amount, intent.currency)
    except ValidationFailed as exc:
        errors.extend(exc.errors)
    if intent.note is not None and len(intent.note) > MAX_NOTE_LENGTH:
        errors.append(FieldError("note", f"must be at most {MAX_NOTE_LENGTH} characters"))
    now = clock.now()
    expires_at: datetime | None = None
    if intent.flow is Flow.COLLECT:
        minutes = policy.collect_default_minutes if intent.expires_in_minutes is None else intent.expires_in_minutes
        if 1 <= minutes <= policy.collect_max_minutes:  # range-checked before any arithmetic on it
            expires_at = now + timedelta(minutes=minutes)
        else:
            errors.append(FieldError("expiresInMinutes", f"must be between 1 and {policy.collect_max_minutes}"))
    fields = decode(intent.fields, rail.request_type)
    prepared = None
    if money is not None:
        try:
            prepared = rail.prepare(fields, money, intent.flow)
        except ValidationFailed as exc:
            errors.extend(exc.errors)
    if errors or money is None or prepared is None:
        raise ValidationFailed(errors)

    payer_name, payee_name, unrecordable = rail_accounts(rail.name, prepared.payer_account, prepared.payee_account)
    if unrecordable:
        raise ValidationFailed(unstorable_fields(unrecordable, intent.fields))
    payment_id = new_id()
    payer, payee = accounts_for(rail.name, intent.client_id, payment_id, payer_name, payee_name)
    payment = Payment.accept(
        id=payment_id,
        client_id=intent.client_id,
        flow=intent.flow,
        method=rail.method,
        rail=rail.name,
        amount=money,
        details=prepared.details,
        public=prepared.public,
        note=intent.note,
        now=now,
        expires_at=expires_at,
        payer_account=payer,
        payee_account=payee,
    )
    answer = render(payment)
    record = IdempotencyRecord(
        client_id=intent.client_id,
        key=intent.idempotency_key,
        fingerprint=intent.fingerprint,
        response_status=answer.status,
        response_body=answer.body,
        created_at=now,
        expires_at=now + policy.idempotency_ttl,
        payment_id=str(payment.id),
    )
    with uow_factory() as uow:
        scheduled = OutboxMessage(
            payment_id=payment.id, topic=TOPIC_PROCESS, available_at=now, request_id=intent.request_id
        )
        if not uow.payments.accept(payment, record, scheduled, now):
            existing = uow.idempotency.get(intent.client_id, intent.idempotency_key)
            if existing is None:  # claimed and expired between our two statements: let the client retry
                raise IdempotencyInProgress("a request with this idempotency key is in progress; retry shortly")
            decide(existing, intent.fingerprint)
            return PaymentAccepted(existing.payment_id, intent.flow, existing.answer, replayed=True)
        uow.commit()
    return PaymentAccepted(str(payment.id), intent.flow, answer)
