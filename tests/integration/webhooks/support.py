"""Builders for the webhook tests: endpoints and payments carried to an outcome in SQL."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

from flosspay.adapters.persistence.unit_of_work import SqlUnitOfWorkFactory
from flosspay.domain.ledger import completed_payment_entry
from flosspay.domain.money import Money
from flosspay.domain.payment import Flow, Payment
from flosspay.domain.webhooks import ALL_EVENT_TYPES, EventType, WebhookEndpoint, WebhookPolicy, new_secret

CLIENT = "cl_hooks"

FAST = WebhookPolicy(
    allow_private_urls=True,
    timeout=timedelta(seconds=2),
    retry_schedule=(timedelta(0), timedelta(0), timedelta(0)),
    poll_interval=timedelta(seconds=0.05),
)


def add_endpoint(
    uow_factory: SqlUnitOfWorkFactory,
    url: str,
    now: datetime,
    *,
    client_id: str = CLIENT,
    events: tuple[EventType, ...] = ALL_EVENT_TYPES,
) -> WebhookEndpoint:
    endpoint = WebhookEndpoint(
        id="ep_" + uuid.uuid4().hex,
        client_id=client_id,
        url=url,
        events=events,
        description="test",
        enabled=True,
        created_at=now,
        updated_at=now,
        secret=new_secret(),
    )
    with uow_factory() as uow:
        uow.webhooks.add_endpoint(endpoint)
        uow.commit()
    return endpoint


def completed_payment(
    uow_factory: SqlUnitOfWorkFactory, now: datetime, *, client_id: str = CLIENT, fail: bool = False
) -> Payment:
    """Accept a payment, claim it and complete (or fail) it: three saves, as a worker does."""
    payment = Payment.accept(
        id=uuid.uuid4(),
        client_id=client_id,
        flow=Flow.PAY,
        method="UPI",
        rail="upi",
        amount=Money(2800, "INR"),
        details={"senderUpi": "alice@upi", "receiverUpi": "bob@upi"},
        public={},
        note="rent",
        now=now,
    )
    with uow_factory() as uow:
        uow.payments.add(payment)
        uow.commit()
    with uow_factory() as uow:
        payment.claim("w1", now, now + timedelta(seconds=30))
        uow.payments.save(payment)
        uow.commit()
    with uow_factory() as uow:
        attempt = payment.start_attempt(now)
        if fail:
            payment.fail("DECLINED", "insufficient funds", now, attempt.number)
        else:
            payment.complete(now, "rail confirmed", attempt.number)
        uow.payments.save(payment)
        if not fail:
            uow.ledger.add(completed_payment_entry(payment, now))
        uow.commit()
    return payment
