"""Re-schedule refunds whose worker died or whose message was lost (the refunds' stalled sweep).

The outbox relay itself is shared: a refund's message is an ordinary outbox row (topic
``refund.process``, ``refund_id`` set), so ``relay_outbox`` dispatches it with the payments' ones.
"""

from __future__ import annotations

from datetime import timedelta

from flosspay.domain.outbox import TOPIC_REFUND, OutboxMessage
from flosspay.domain.ports import Clock, UnitOfWorkFactory


def recover_stalled_refunds(
    *, uow_factory: UnitOfWorkFactory, clock: Clock, batch: int = 100, idle_after: timedelta = timedelta(minutes=5)
) -> int:
    """Schedule a fresh attempt for each stalled refund (same rules as ``recover_stalled`` for payments)."""
    with uow_factory() as uow:
        now = clock.now()
        stalled = uow.refunds.find_stalled(now, batch, now - idle_after)
        for refund_id in stalled:
            refund = uow.refunds.get(refund_id)
            if refund is not None:
                uow.outbox.add(OutboxMessage(refund.payment_id, TOPIC_REFUND, now, refund_id=refund_id))
        uow.commit()
    return len(stalled)
