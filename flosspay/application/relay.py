"""Move committed outbox messages to the task queue, and re-schedule payments whose worker died.

Delivery is at-least-once: a message is marked dispatched only after the queue took it, so a crash
in between (or a batch the broker took only part of) sends it again, which ``process_payment`` tolerates.
"""

from __future__ import annotations

from datetime import timedelta

from flosspay.domain.outbox import TOPIC_PROCESS, OutboxMessage
from flosspay.domain.ports import Clock, TaskQueue, UnitOfWorkFactory


def relay_outbox(*, uow_factory: UnitOfWorkFactory, queue: TaskQueue, clock: Clock, batch: int = 100) -> int:
    """Dispatch up to ``batch`` due messages in one hand-over to the queue; returns how many it took.

    All or nothing: the rows are marked dispatched only once ``enqueue_many`` returned (the broker has
    every message); if it raises, none is marked and all go again next pass (ADR 0020).
    """
    with uow_factory() as uow:
        now = clock.now()
        messages = uow.outbox.fetch_due(now, batch)
        if not messages:
            return 0
        queue.enqueue_many(messages)
        sent = [message.id for message in messages if message.id is not None]
        uow.outbox.mark_dispatched(sent, now)
        uow.commit()
    return len(messages)


def recover_stalled(
    *, uow_factory: UnitOfWorkFactory, clock: Clock, batch: int = 100, idle_after: timedelta = timedelta(minutes=5)
) -> int:
    """Schedule a fresh attempt for payments whose worker died or whose message was lost.

    ``idle_after`` zero, at the start of an in-process queue, reschedules every unfinished payment.
    """
    with uow_factory() as uow:
        now = clock.now()
        stalled = uow.payments.find_stalled(now, batch, now - idle_after)
        for payment_id in stalled:
            uow.outbox.add(OutboxMessage(payment_id, TOPIC_PROCESS, now))
        uow.commit()
    return len(stalled)
