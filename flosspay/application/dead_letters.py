"""FlossPay's own dead letters: payments parked after their attempt budget, and the operator's way back.

A parked payment keeps its status and its attempts (each with the rail's answer, when it gave one),
so money that moved is never shown as FAILED. Requeueing gives it a fresh budget and one outbox
message; the worker then asks the rail for the status first, so it is recorded once, never charged
twice. Requeueing a payment that is no longer parked changes nothing.
"""

from __future__ import annotations

import uuid
from datetime import timedelta

from flosspay.application.policies import ProcessingPolicy
from flosspay.domain.errors import ConcurrentUpdate
from flosspay.domain.outbox import TOPIC_PROCESS, OutboxMessage
from flosspay.domain.payment import Payment
from flosspay.domain.ports import Clock, UnitOfWorkFactory

LIST_LIMIT = 10_000


def parked_payments(*, uow_factory: UnitOfWorkFactory, limit: int = LIST_LIMIT) -> list[Payment]:
    """Dead-lettered payments, oldest first."""
    with uow_factory() as uow:
        found = [uow.payments.get(pid) for pid in uow.payments.find_parked(limit)]
    return [p for p in found if p is not None]


def count_parked(*, uow_factory: UnitOfWorkFactory) -> int:
    with uow_factory() as uow:
        return uow.payments.count_parked()


def count_parked_refunds(*, uow_factory: UnitOfWorkFactory) -> int:
    """Refunds parked for an operator (their money may have moved), counted up to ``LIST_LIMIT``."""
    with uow_factory() as uow:
        return len(uow.refunds.find_parked(LIST_LIMIT))


def count_dead_letters(*, uow_factory: UnitOfWorkFactory) -> int:
    """Everything waiting for an operator: parked payments and parked refunds (readiness shows it)."""
    return count_parked(uow_factory=uow_factory) + count_parked_refunds(uow_factory=uow_factory)


def requeue_parked(*, uow_factory: UnitOfWorkFactory, clock: Clock, payment_id: uuid.UUID | None) -> int:
    """Requeue one parked payment (``payment_id``) or all of them; returns how many were requeued."""
    if payment_id is None:
        with uow_factory() as uow:
            ids = uow.payments.find_parked(LIST_LIMIT)
    else:
        ids = [payment_id]
    count = 0
    for pid in ids:
        with uow_factory() as uow:
            payment = uow.payments.get(pid)
            if payment is None or not payment.is_parked or payment.is_final:
                continue
            now = clock.now()
            payment.unpark(now)
            try:
                uow.payments.save(payment)
            except ConcurrentUpdate:  # another operator requeued it just now
                continue
            uow.outbox.add(OutboxMessage(payment.id, TOPIC_PROCESS, now))
            uow.commit()
            count += 1
    return count


def stuck_after(policy: ProcessingPolicy, max_backoff: timedelta) -> timedelta:
    """How long an unfinished payment may go unchanged before it is stuck, not merely slow.

    Every attempt the budget allows, each with a lease, a backoff and the stalled sweep's delay,
    then the same again as a margin: past that no FlossPay path is still carrying it.
    """
    per_attempt = policy.lease + max_backoff + policy.stall_after
    return 2 * policy.max_attempts * per_attempt


def stuck_payments(
    *, uow_factory: UnitOfWorkFactory, clock: Clock, untouched_for: timedelta, limit: int = LIST_LIMIT
) -> list[Payment]:
    """Payments neither final nor parked that nothing has changed for ``untouched_for``."""
    with uow_factory() as uow:
        found = [uow.payments.get(pid) for pid in uow.payments.find_stuck(clock.now() - untouched_for, limit)]
    return [p for p in found if p is not None]
