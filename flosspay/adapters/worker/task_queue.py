"""The TaskQueue port over Dramatiq: what the outbox relay hands its messages to."""

from __future__ import annotations

import logging
from typing import Any

from flosspay.adapters.clock import SystemClock
from flosspay.adapters.worker.actors import REQUEST_ID_OPTION, ProcessActor
from flosspay.domain.outbox import TOPIC_PROCESS, OutboxMessage
from flosspay.domain.ports import Clock

logger = logging.getLogger("flosspay.worker")


class DramatiqTaskQueue:
    """Sends ``payment.process`` messages to the ``process_payment`` actor; raises if the broker refuses."""

    def __init__(self, actor: ProcessActor, clock: Clock | None = None) -> None:
        self.actor = actor
        self.clock: Clock = clock or SystemClock()

    def enqueue(self, message: OutboxMessage) -> None:
        if message.topic != TOPIC_PROCESS:
            # Raising would block the relay on this row forever; nothing can consume it anyway.
            logger.error("outbox message %s has unknown topic %r; dropped", message.id, message.topic)
            return
        delay_ms = int((message.available_at - self.clock.now()).total_seconds() * 1000)
        options: dict[str, Any] = {REQUEST_ID_OPTION: message.request_id} if message.request_id else {}
        self.actor.send_with_options(
            args=(str(message.payment_id),), delay=delay_ms if delay_ms > 0 else None, **options
        )
