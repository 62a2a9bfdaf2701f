"""Read a payment's status for the client that owns it; anyone else's payment does not exist."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from flosspay.domain.errors import NotFound
from flosspay.domain.payment import Payment, PaymentStatus
from flosspay.domain.ports import UnitOfWorkFactory
from flosspay.domain.refund import Refund


@dataclass(frozen=True, slots=True)
class PaymentState:
    """A payment as its owner may see it; ``ledger_entry_id``: the journal entry that posted it, once COMPLETED."""

    payment: Payment
    ledger_entry_id: str | None = None
    refunds: tuple[Refund, ...] = ()  # issue 13: what was given back (only a COMPLETED payment has any)


def get_status(client_id: str, payment_id: str, *, uow_factory: UnitOfWorkFactory) -> PaymentState:
    """The payment, its entry and its refunds; ``NotFound`` for malformed, unknown or another client's ids alike."""
    try:
        pid = uuid.UUID(payment_id)
    except ValueError:
        raise NotFound(f"no payment {payment_id!r}") from None
    entry_id = None
    refunds: list[Refund] = []
    with uow_factory() as uow:
        payment = uow.payments.get_owned(client_id, pid)  # one query decides: another's id is a missing id
        if payment is not None and payment.status is PaymentStatus.COMPLETED:
            entry_id = uow.ledger.payment_entry_id(pid)
            refunds = uow.refunds.for_payment(pid)  # issue 13: only a COMPLETED payment has refunds
    if payment is None:
        raise NotFound(f"no payment {payment_id!r}")
    return PaymentState(payment, str(entry_id) if entry_id is not None else None, tuple(refunds))
