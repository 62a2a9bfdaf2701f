"""What merchants see of a refund: the JSON shapes of the refund answers (camelCase), here in the HTTP adapter."""

from __future__ import annotations

from datetime import datetime

import msgspec

from flosspay.domain.idempotency import Answer
from flosspay.domain.money import Money
from flosspay.domain.refund import Refund, RefundStatus


class RefundView(msgspec.Struct, frozen=True, rename="camel"):
    """A refund as ``POST …/refunds`` (status PENDING) and ``GET /refunds/{id}`` show it."""

    id: str
    payment_id: str
    amount: str
    currency: str
    status: RefundStatus
    reason: str | None
    created_at: datetime


class RefundHistoryView(msgspec.Struct, frozen=True, rename="camel"):
    """Every field is always present (null where it does not apply), as in a payment's history."""

    from_: RefundStatus | None = msgspec.field(name="from")
    to: RefundStatus
    at: datetime
    reason: str
    attempt: int | None


class RefundDetailView(msgspec.Struct, frozen=True, rename="camel", omit_defaults=True):
    """``GET /refunds/{id}``: the refund with its history; failure fields once FAILED."""

    id: str
    payment_id: str
    amount: str
    currency: str
    status: RefundStatus
    reason: str | None
    created_at: datetime
    updated_at: datetime
    history: list[RefundHistoryView]
    failure_code: str | None = None
    failure_reason: str | None = None
    ledger_entry_id: str | None = None


class RefundSummary(msgspec.Struct, frozen=True, rename="camel"):
    """One refund as the payment's status lists it."""

    id: str
    amount: str
    status: RefundStatus


def refund_view(refund: Refund) -> RefundView:
    return RefundView(
        id=str(refund.id),
        payment_id=str(refund.payment_id),
        amount=refund.amount.format(),
        currency=refund.amount.currency,
        status=refund.status,
        reason=refund.reason,
        created_at=refund.created_at,
    )


def accepted_refund_body(refund: Refund) -> bytes:
    return msgspec.json.encode(refund_view(refund))


def accepted_refund_answer(refund: Refund) -> Answer:
    """The answer to an accepted refund request: 202 and the PENDING refund (stored for replays)."""
    return Answer(202, accepted_refund_body(refund))


def refund_detail(refund: Refund, ledger_entry_id: str | None = None) -> RefundDetailView:
    return RefundDetailView(
        id=str(refund.id),
        payment_id=str(refund.payment_id),
        amount=refund.amount.format(),
        currency=refund.amount.currency,
        status=refund.status,
        reason=refund.reason,
        created_at=refund.created_at,
        updated_at=refund.updated_at,
        history=[RefundHistoryView(h.from_status, h.to_status, h.at, h.reason, h.attempt) for h in refund.history],
        failure_code=refund.failure_code,
        failure_reason=refund.failure_reason,
        ledger_entry_id=ledger_entry_id,
    )


def refund_detail_body(refund: Refund, ledger_entry_id: str | None = None) -> bytes:
    return msgspec.json.encode(refund_detail(refund, ledger_entry_id))


def refunded_amount(refunds: list[Refund], currency: str) -> Money:
    """What SUCCEEDED refunds gave back (pending ones are reserved, not yet refunded)."""
    return Money(sum(r.amount.minor for r in refunds if r.status is RefundStatus.SUCCEEDED), currency)


def refund_summaries(refunds: list[Refund]) -> list[RefundSummary]:
    return [RefundSummary(str(r.id), r.amount.format(), r.status) for r in refunds]
