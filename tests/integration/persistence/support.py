"""Builders for the persistence tests: payments and idempotency records with known values."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from flosspay.domain.idempotency import IdempotencyRecord
from flosspay.domain.money import Money
from flosspay.domain.payment import Flow, Payment

T0 = datetime(2026, 1, 1, 12, 0, 0, 123456, tzinfo=UTC)


def make_payment(
    *,
    client_id: str = "cl_test",
    flow: Flow = Flow.PAY,
    now: datetime = T0,
    details: dict[str, Any] | None = None,
    public: dict[str, Any] | None = None,
) -> Payment:
    return Payment.accept(
        id=uuid.uuid4(),
        client_id=client_id,
        flow=flow,
        method="UPI",
        rail="upi",
        amount=Money(2800, "INR"),
        details=details if details is not None else {"senderUpi": "alice@upi", "receiverUpi": "bob@upi"},
        public=public if public is not None else {},
        note="rent",
        now=now,
        expires_at=now + timedelta(minutes=30) if flow is Flow.COLLECT else None,
        payer_account="upi:vpa:alice@upi",
        payee_account="upi:vpa:bob@upi",
    )


def make_record(
    *,
    client_id: str = "cl_test",
    key: str = "key-1",
    fingerprint: str = "fp-1",
    now: datetime = T0,
    ttl: timedelta = timedelta(hours=24),
    body: bytes = b'{"id":"x"}',
    payment_id: str | None = None,
) -> IdempotencyRecord:
    return IdempotencyRecord(
        client_id=client_id,
        key=key,
        fingerprint=fingerprint,
        response_status=200,
        response_body=body,
        created_at=now,
        expires_at=now + ttl,
        payment_id=payment_id,
    )
