"""Refund a completed payment (``POST /api/v1/transaction/{id}/refunds``), and read refunds back.

Accepting a refund is one transaction: the idempotency key, the reservation of its amount on the
payment (a guarded UPDATE the database caps at the payment's amount, so concurrent requests at any
number of API processes never together exceed it), the refund, its first history row and its outbox
message. A refused request stores nothing, so it may be corrected and retried under the same key.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import datetime
from decimal import Decimal

import msgspec

from flosspay.application.policies import IntakePolicy
from flosspay.domain.errors import (
    FieldError,
    IdempotencyInProgress,
    NotFound,
    NotRefundable,
    ServiceUnavailable,
    ValidationFailed,
)
from flosspay.domain.idempotency import Answer, IdempotencyRecord, decide
from flosspay.domain.ledger import refund_entry_id
from flosspay.domain.money import Money
from flosspay.domain.outbox import TOPIC_REFUND, OutboxMessage
from flosspay.domain.payment import Payment, PaymentStatus
from flosspay.domain.ports import Clock, RailRegistry, UnitOfWork, UnitOfWorkFactory
from flosspay.domain.rail import takes_partial_refunds, takes_refunds
from flosspay.domain.refund import Refund, RefundStatus, check_reason, precheck_amount, refund_amount

RefundRenderer = Callable[[Refund], Answer]
"""What the adapter answers for an accepted refund (over HTTP: 202 and its PENDING view); stored for replay."""


class RefundAccepted(msgspec.Struct, frozen=True):
    """An accepted refund request: the refund's id and the answer the adapter rendered (or the replayed one)."""

    refund_id: str | None
    answer: Answer
    replayed: bool


class RefundState(msgspec.Struct, frozen=True):
    """A refund as its owner may see it; ``ledger_entry_id``: its journal entry, once SUCCEEDED."""

    refund: Refund
    ledger_entry_id: str | None = None


class RefundCommand(msgspec.Struct, frozen=True):
    """A merchant's refund request as an adapter decoded it; ``amount`` None means all that is left."""

    client_id: str
    idempotency_key: str
    fingerprint: str
    payment_id: str
    amount: Decimal | int | str | None = None
    reason: str | None = None
    request_id: str | None = None


def _payment_uuid(payment_id: str) -> uuid.UUID:
    try:
        return uuid.UUID(payment_id)
    except ValueError:
        raise NotFound(f"no payment {payment_id!r}") from None


def _check_refundable(payment: Payment, rails: RailRegistry, amount: Money) -> None:
    if payment.status is not PaymentStatus.COMPLETED:
        raise NotRefundable(f"only a COMPLETED payment can be refunded; this one is {payment.status}")
    rail = rails.get(payment.rail)
    if rail is None:
        raise ServiceUnavailable(f"the {payment.rail} rail is not enabled here, so its refunds cannot be taken")
    if not takes_refunds(rail):
        raise NotRefundable(f"the {payment.method} rail ({payment.rail}) does not support refunds")
    if amount.minor != payment.amount.minor and not takes_partial_refunds(rail):
        raise NotRefundable(
            f"the {payment.method} rail ({payment.rail}) does not support partial refunds;"
            f" refund the whole {payment.amount.format()} {payment.amount.currency}"
        )


def _replay(uow: UnitOfWork, command: RefundCommand, now: datetime | None = None) -> RefundAccepted | None:
    """The stored answer under the command's key (a live one, if ``now`` is given), else None."""
    existing = uow.idempotency.get(command.client_id, command.idempotency_key)
    if existing is None or (now is not None and existing.expires_at <= now):
        return None
    decide(existing, command.fingerprint)
    return RefundAccepted(existing.payment_id, Answer(existing.response_status, existing.response_body), True)


def request_refund(
    command: RefundCommand,
    *,
    uow_factory: UnitOfWorkFactory,
    rails: RailRegistry,
    clock: Clock,
    policy: IntakePolicy,
    render: RefundRenderer,
    new_id: Callable[[], uuid.UUID] = uuid.uuid4,
) -> RefundAccepted:
    """Accept a refund (the adapter renders the answer) or raise the domain error that says why not.

    A repeat of an accepted request under its key replays the first answer before anything is
    checked again (a full refund's repeat would otherwise find nothing left to refund).
    """
    precheck_amount(command.amount)  # what needs no payment is refused before any lookup
    reason = check_reason(command.reason)
    payment_id = _payment_uuid(command.payment_id)
    with uow_factory() as uow:
        now = clock.now()
        replayed = _replay(uow, command, now)
        if replayed is not None:
            return replayed
        payment = uow.payments.get_owned(command.client_id, payment_id)
        if payment is None:
            raise NotFound(f"no payment {command.payment_id!r}")
        if payment.status is not PaymentStatus.COMPLETED:
            raise NotRefundable(f"only a COMPLETED payment can be refunded; this one is {payment.status}")
        amount = refund_amount(payment, command.amount, uow.refunds.reserved(payment_id))
        _check_refundable(payment, rails, amount)
        refund = Refund.request(id=new_id(), payment=payment, amount=amount, reason=reason, now=now)
        answer = render(refund)
        record = IdempotencyRecord(
            client_id=command.client_id,
            key=command.idempotency_key,
            fingerprint=command.fingerprint,
            response_status=answer.status,
            response_body=answer.body,
            created_at=now,
            expires_at=now + policy.idempotency_ttl,
            payment_id=str(refund.id),
        )
        if not uow.idempotency.claim(record, now):
            # Claimed concurrently under the same key (and committed meanwhile): its answer is the answer.
            replayed = _replay(uow, command)
            if replayed is None:
                raise IdempotencyInProgress("a request with this idempotency key is in progress; retry shortly")
            return replayed
        if not uow.refunds.reserve(payment_id, amount.minor):
            left = Money(max(payment.amount.minor - uow.refunds.reserved(payment_id), 0), amount.currency)
            raise ValidationFailed([FieldError("amount", f"is more than the refundable remainder ({left.format()})")])
        uow.refunds.add(refund)
        uow.outbox.add(
            OutboxMessage(
                payment_id=payment.id,
                topic=TOPIC_REFUND,
                available_at=now,
                request_id=command.request_id,
                refund_id=refund.id,
            )
        )
        uow.commit()
    return RefundAccepted(str(refund.id), answer, False)


def get_refund(client_id: str, refund_id: str, *, uow_factory: UnitOfWorkFactory) -> RefundState:
    """The refund with its history; ``NotFound`` for malformed, unknown or another client's ids."""
    try:
        rid = uuid.UUID(refund_id)
    except ValueError:
        raise NotFound(f"no refund {refund_id!r}") from None
    with uow_factory() as uow:
        refund = uow.refunds.get_owned(client_id, rid)
    if refund is None:
        raise NotFound(f"no refund {refund_id!r}")
    entry = str(refund_entry_id(refund.id)) if refund.status is RefundStatus.SUCCEEDED else None
    return RefundState(refund, entry)


def refunds_of_payment(payment_id: uuid.UUID, *, uow_factory: UnitOfWorkFactory) -> list[Refund]:
    """Every refund of a payment, oldest first (operators' view: the CLI)."""
    with uow_factory() as uow:
        return uow.refunds.for_payment(payment_id)


def find_refund(refund_id: uuid.UUID, *, uow_factory: UnitOfWorkFactory) -> Refund | None:
    with uow_factory() as uow:
        return uow.refunds.get(refund_id)


def parked_refunds(*, uow_factory: UnitOfWorkFactory, limit: int = 1000) -> list[Refund]:
    """Dead-lettered refunds (their money may have moved: an operator settles them), oldest first."""
    with uow_factory() as uow:
        found = [uow.refunds.get(i) for i in uow.refunds.find_parked(limit)]
    return [r for r in found if r is not None]


def requeue_refund(refund_id: uuid.UUID, *, uow_factory: UnitOfWorkFactory, clock: Clock) -> bool:
    """Send a parked refund back to the worker with a fresh attempt budget; False if it is not parked.

    Safe: the rail is asked again under the same reference, so a refund that did go through is
    answered as done and is never made twice. A second requeue finds nothing and changes nothing.
    """
    with uow_factory() as uow:
        refund = uow.refunds.get(refund_id)
        if refund is None or not refund.is_parked:
            return False
        now = clock.now()
        refund.unpark(now)
        uow.refunds.save(refund)
        uow.outbox.add(OutboxMessage(refund.payment_id, TOPIC_REFUND, now, refund_id=refund.id))
        uow.commit()
    return True
