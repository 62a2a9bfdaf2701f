"""The TaskQueue port over Dramatiq: what the outbox relay hands its messages to."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from dramatiq import Actor, Message

from flosspay.adapters.clock import SystemClock
from flosspay.adapters.worker.actors import REQUEST_ID_OPTION, ProcessActor
from flosspay.adapters.worker.broker import enqueue_many
from flosspay.domain.outbox import TOPIC_PROCESS, OutboxMessage
from flosspay.domain.ports import Clock

logger = logging.getLogger("flosspay.worker")


def actor_message(
    actor: Actor[[str], None], target_id: str, message: OutboxMessage, clock: Clock
) -> tuple[Message[Any], int | None]:
    """The Dramatiq message ``actor.send_with_options`` would send for ``message``, with its delay (ms)."""
    delay_ms = int((message.available_at - clock.now()).total_seconds() * 1000)
    options: dict[str, Any] = {REQUEST_ID_OPTION: message.request_id} if message.request_id else {}
    return actor.message_with_options(args=(target_id,), **options), delay_ms if delay_ms > 0 else None


class DramatiqTaskQueue:
    """Sends ``payment.process`` messages to the ``process_payment`` actor; raises if the broker refuses."""

    def __init__(self, actor: ProcessActor, clock: Clock | None = None) -> None:
        self.actor = actor
        self.clock: Clock = clock or SystemClock()

    def enqueue(self, message: OutboxMessage) -> None:
        """One message, through Dramatiq's own ``enqueue`` (what ``send_with_options`` does)."""
        if self._known(message):
            prepared, delay = actor_message(self.actor, str(message.payment_id), message, self.clock)
            self.actor.broker.enqueue(prepared, delay=delay)

    def enqueue_many(self, messages: Sequence[OutboxMessage]) -> None:
        """One round trip to the broker for the whole batch (``broker.enqueue_many``)."""
        batch = [
            actor_message(self.actor, str(message.payment_id), message, self.clock)
            for message in messages
            if self._known(message)
        ]
        enqueue_many(self.actor.broker, batch)

    @staticmethod
    def _known(message: OutboxMessage) -> bool:
        if message.topic == TOPIC_PROCESS:
            return True
        # Raising would block the relay on this row forever; nothing can consume it anyway.
        logger.error("outbox message %s has unknown topic %r; dropped", message.id, message.topic)
        return False
