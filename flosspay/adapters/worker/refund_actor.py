"""The ``process_refund`` actor (issue 13): one broker message, one run of the refund use case.

Like ``process_payment``, the attempt budget is the refund's own (kept in the database), never the
message's retry count: when the broker has no retry left for a refund that still has budget, the
message is acknowledged and the refunds' stalled sweep reschedules it once its lease lapses.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Sequence
from typing import Any

from dramatiq import Actor, Broker, Message
from dramatiq.middleware import CurrentMessage

from flosspay.adapters.clock import SystemClock
from flosspay.adapters.logs import bound
from flosspay.adapters.worker.actors import (
    REQUEST_ID_OPTION,
    InvalidPaymentMessage,
    TransientFailure,
    declare_on_payments_queue,
    is_final_attempt,
    lease_owner,
    settle,
)
from flosspay.adapters.worker.broker import enqueue_many
from flosspay.adapters.worker.services import WorkerServices
from flosspay.adapters.worker.task_queue import actor_message
from flosspay.application.process import Disposition, ProcessResult
from flosspay.application.process_refund import process_refund
from flosspay.domain.outbox import TOPIC_REFUND, OutboxMessage
from flosspay.domain.ports import Clock, TaskQueue

REFUND_ACTOR = "process_refund"

logger = logging.getLogger("flosspay.worker")

RefundActor = Actor[[str], None]


def parse_refund_id(raw: object) -> uuid.UUID:
    if not isinstance(raw, str):
        raise InvalidPaymentMessage(f"refund id must be a string, got {type(raw).__name__}")
    try:
        return uuid.UUID(raw)
    except ValueError:
        raise InvalidPaymentMessage("refund id is not a UUID") from None


def handle_refund_message(raw_refund_id: object, services: WorkerServices) -> None:
    refund_id = parse_refund_id(raw_refund_id)
    message = CurrentMessage.get_current_message()
    request_id = message.options.get(REQUEST_ID_OPTION) if message is not None else None
    last_delivery = is_final_attempt(message, services.max_retries)
    with bound(request_id=request_id if isinstance(request_id, str) else None):
        try:
            result = process_refund(
                refund_id,
                worker=lease_owner(services.worker_id),
                uow_factory=services.uow_factory,
                rails=services.rails,
                clock=services.clock,
                policy=services.policy,
            )
        except Exception as exc:  # database trouble: retry later (the type only, never the message)
            if last_delivery:
                result = ProcessResult(Disposition.RETRY, f"{type(exc).__name__} while processing")
            else:
                logger.warning("refund %s: %s while processing, will retry", refund_id, type(exc).__name__)
                raise TransientFailure(f"refund {refund_id}: {type(exc).__name__}") from None
        settle(refund_id, result, last_delivery, subject="refund")


def declare_refund_actor(broker: Broker, services: WorkerServices) -> RefundActor:
    """Declare ``process_refund`` on ``broker`` (the payments' queue: one pool of worker threads)."""
    return declare_on_payments_queue(broker, services, REFUND_ACTOR, handle_refund_message)


class RefundRoutingQueue:
    """The TaskQueue the relay uses: ``refund.process`` rows go to ``process_refund``, the rest as before."""

    def __init__(self, payments: TaskQueue, actor: RefundActor, clock: Clock | None = None) -> None:
        self.payments = payments
        self.actor = actor
        self.clock: Clock = clock or SystemClock()

    def enqueue(self, message: OutboxMessage) -> None:
        if message.topic != TOPIC_REFUND:
            self.payments.enqueue(message)
            return
        prepared = self._prepare(message)
        if prepared is not None:
            self.actor.broker.enqueue(prepared[0], delay=prepared[1])

    def enqueue_many(self, messages: Sequence[OutboxMessage]) -> None:
        """The payments' messages in one batch, the refunds' in another (one round trip each, refunds
        being rare); raises if the broker did not take either."""
        others = [message for message in messages if message.topic != TOPIC_REFUND]
        if others:
            self.payments.enqueue_many(others)
        prepared = (self._prepare(message) for message in messages if message.topic == TOPIC_REFUND)
        enqueue_many(self.actor.broker, [item for item in prepared if item is not None])

    def _prepare(self, message: OutboxMessage) -> tuple[Message[Any], int | None] | None:
        if message.refund_id is None:
            logger.error("outbox message %s is a refund message without a refund id; dropped", message.id)
            return None
        return actor_message(self.actor, str(message.refund_id), message, self.clock)
