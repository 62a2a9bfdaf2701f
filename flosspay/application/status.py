"""Read a payment's status for the client that owns it; anyone else's payment does not exist."""

from __future__ import annotations

import uuid

from flosspay.application.refund_views import refund_summaries, refunded_amount
from flosspay.application.views import status_body
from flosspay.domain.errors import NotFound
from flosspay.domain.payment import PaymentStatus
from flosspay.domain.ports import UnitOfWorkFactory


def get_status(client_id: str, payment_id: str, *, uow_factory: UnitOfWorkFactory) -> bytes:
    """The status JSON; ``NotFound`` for malformed, unknown or another client's ids alike.

    A COMPLETED payment shows ``ledgerEntryId``, the journal entry that posted it. Every payment shows
    ``refundedAmount`` (what SUCCEEDED refunds gave back) and ``refunds`` (id, amount, status).
    """
    try:
        pid = uuid.UUID(payment_id)
    except ValueError:
        raise NotFound(f"no payment {payment_id!r}") from None
    entry_id = None
    refunds = []
    with uow_factory() as uow:
        payment = uow.payments.get_owned(client_id, pid)  # one query decides: another's id is a missing id
        if payment is not None and payment.status is PaymentStatus.COMPLETED:
            entry_id = uow.ledger.payment_entry_id(pid)
            refunds = uow.refunds.for_payment(pid)  # issue 13: only a COMPLETED payment has refunds
    if payment is None:
        raise NotFound(f"no payment {payment_id!r}")
    refunded = refunded_amount(refunds, payment.amount.currency).format()
    return status_body(payment, str(entry_id) if entry_id is not None else None, refunded, refund_summaries(refunds))
