"""Initiate a UPI collect request (``POST /api/v1/collect``): the payer approves or declines it."""

from __future__ import annotations

from decimal import Decimal

import msgspec

from flosspay.application.accept_payment import Accepted, PaymentIntent, accept_payment
from flosspay.application.policies import IntakePolicy
from flosspay.domain.payment import Flow
from flosspay.domain.ports import Clock, RailRegistry, UnitOfWorkFactory


class CollectCommand(msgspec.Struct, frozen=True):
    client_id: str
    idempotency_key: str
    fingerprint: str
    sender_upi: str
    receiver_upi: str
    amount: Decimal | int
    currency: str = "INR"
    note: str | None = None
    expires_in_minutes: int | None = None
    request_id: str | None = None


def initiate_collect(
    command: CollectCommand,
    *,
    uow_factory: UnitOfWorkFactory,
    rails: RailRegistry,
    clock: Clock,
    policy: IntakePolicy,
) -> Accepted:
    intent = PaymentIntent(
        client_id=command.client_id,
        idempotency_key=command.idempotency_key,
        fingerprint=command.fingerprint,
        method="UPI",
        flow=Flow.COLLECT,
        amount=command.amount,
        currency=command.currency,
        fields={"senderUpi": command.sender_upi, "receiverUpi": command.receiver_upi},
        note=command.note,
        expires_in_minutes=command.expires_in_minutes,
        request_id=command.request_id,
    )
    return accept_payment(intent, uow_factory=uow_factory, rails=rails, clock=clock, policy=policy)
