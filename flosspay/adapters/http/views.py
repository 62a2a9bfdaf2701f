"""What merchants see of a payment: the JSON shapes of the API's answers (camelCase, wire names).

The use cases return payments; these views are how the HTTP API (and its webhooks) write them.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import msgspec

from flosspay.adapters.http.refund_views import RefundSummary, refund_summaries, refunded_amount
from flosspay.application.status import PaymentState
from flosspay.domain.payment import Payment, PaymentStatus

ACCEPT_MESSAGES: dict[PaymentStatus, str] = {
    PaymentStatus.QUEUED: "Payment accepted and queued for processing",
    PaymentStatus.REQUESTED: "Collect request accepted; waiting for the payer to approve",
}


class HistoryView(msgspec.Struct, frozen=True, rename="camel"):
    """Every field is always present (null where it does not apply), so the schema marks each required."""

    from_: PaymentStatus | None = msgspec.field(name="from")
    to: PaymentStatus
    at: datetime
    reason: str
    attempt: int | None


class AttemptView(msgspec.Struct, frozen=True, rename="camel"):
    number: int
    action: str
    outcome: str
    started_at: datetime
    code: str | None
    reason: str | None
    finished_at: datetime | None


class AcceptedView(msgspec.Struct, frozen=True, rename="camel", omit_defaults=True):
    id: str
    status: PaymentStatus
    amount: str
    currency: str
    method: str
    created_at: datetime
    message: str
    expires_at: datetime | None = None


class StatusView(msgspec.Struct, frozen=True, rename="camel", omit_defaults=True):
    id: str
    status: PaymentStatus
    amount: str
    currency: str
    method: str
    flow: str
    created_at: datetime
    updated_at: datetime
    history: list[HistoryView]
    attempts: list[AttemptView]
    failure_code: str | None = None
    failure_reason: str | None = None
    expires_at: datetime | None = None
    note: str | None = None
    ledger_entry_id: str | None = None
    next_action: dict[str, str] | None = None
    # Refunds (issue 13): shown by GET …/status (always; a webhook's payment payload leaves them out).
    refunded_amount: str | None = None
    refunds: list[RefundSummary] | None = None


def _merge(view: msgspec.Struct, public: dict[str, Any]) -> bytes:
    """Encode ``view`` with the rail's safe public fields added at the top level."""
    if not public:
        return msgspec.json.encode(view)
    data = msgspec.to_builtins(view)
    for key, value in public.items():
        data.setdefault(key, value)
    return msgspec.json.encode(data)


def accepted_body(payment: Payment) -> bytes:
    view = AcceptedView(
        id=str(payment.id),
        status=payment.status,
        amount=payment.amount.format(),
        currency=payment.amount.currency,
        method=payment.method,
        created_at=payment.created_at,
        message=ACCEPT_MESSAGES.get(payment.status, "Payment accepted"),
        expires_at=payment.expires_at,
    )
    return _merge(view, payment.public)


def status_view(
    payment: Payment,
    ledger_entry_id: str | None = None,
    refunded_amount: str | None = None,
    refunds: list[RefundSummary] | None = None,
) -> StatusView:
    return StatusView(
        id=str(payment.id),
        status=payment.status,
        amount=payment.amount.format(),
        currency=payment.amount.currency,
        method=payment.method,
        flow=payment.flow.value,
        created_at=payment.created_at,
        updated_at=payment.updated_at,
        history=[HistoryView(h.from_status, h.to_status, h.at, h.reason, h.attempt) for h in payment.history],
        attempts=[
            AttemptView(a.number, a.action, a.outcome.value, a.started_at, a.code, a.reason, a.finished_at)
            for a in payment.attempts
        ],
        failure_code=payment.failure_code,
        failure_reason=payment.failure_reason,
        expires_at=payment.expires_at,
        note=payment.note,
        ledger_entry_id=ledger_entry_id,
        next_action=payment.next_action if not payment.is_final else None,
        refunded_amount=refunded_amount,
        refunds=refunds,
    )


def status_body(
    payment: Payment,
    ledger_entry_id: str | None = None,
    refunded: str | None = None,
    refunds: list[RefundSummary] | None = None,
) -> bytes:
    return _merge(status_view(payment, ledger_entry_id, refunded, refunds), payment.public)


def state_body(state: PaymentState) -> bytes:
    """The status JSON of what ``get_status`` found, its refunds included."""
    refunds = list(state.refunds)
    refunded = refunded_amount(refunds, state.payment.amount.currency).format()
    return status_body(state.payment, state.ledger_entry_id, refunded, refund_summaries(refunds))
