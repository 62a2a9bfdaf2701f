"""The ``process_refund`` actor (issue 13): one broker message, one run of the refund use case.

Like ``process_payment``, the attempt budget is the refund's own (kept in the database), never the
message's retry count: when the broker has no retry left for a refund that still has budget, the
message is acknowledged and the refunds' stalled sweep reschedules it once its lease lapses.
"""

from __future__ import annotations

import logging
import uuid
from typing import Any

import dramatiq
from dramatiq import Actor, Broker
from dramatiq.middleware import CurrentMessage

from flosspay.adapters.clock import SystemClock
from flosspay.adapters.logs import bound
from flosspay.adapters.worker.actors import (
    REQUEST_ID_OPTION,
    InvalidPaymentMessage,
    PaymentExhausted,
    TransientFailure,
    is_final_attempt,
    lease_owner,
    payments_queue,
)
from flosspay.adapters.worker.services import WorkerServices
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


def settle_refund(refund_id: uuid.UUID, result: ProcessResult, last_delivery: bool) -> None:
    """Acknowledge (return) or raise, according to the use case's disposition."""
    disposition = result.disposition
    if disposition is Disposition.RETRY:
        if last_delivery:
            logger.warning(
                "refund %s: transient (%s) on the last delivery; the sweep reschedules it", refund_id, result.detail
            )
            return
        logger.info("refund %s: transient (%s), will retry", refund_id, result.detail)
        raise TransientFailure(f"refund {refund_id}: {result.detail}")
    if disposition is Disposition.EXHAUSTED:
        logger.warning("refund %s: attempts exhausted (%s), refund failed", refund_id, result.detail)
        raise PaymentExhausted(f"refund {refund_id}: {result.detail}")
    if disposition is Disposition.PARKED:
        logger.warning("refund %s: dead-lettered (%s)", refund_id, result.detail)
        return
    logger.info("refund %s: %s (%s)", refund_id, disposition.value.lower(), result.detail)


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
        settle_refund(refund_id, result, last_delivery)


def declare_refund_actor(broker: Broker, services: WorkerServices) -> RefundActor:
    """Declare ``process_refund`` on ``broker`` (the payments' queue: one pool of worker threads)."""
    if not any(isinstance(m, CurrentMessage) for m in broker.middleware):
        broker.add_middleware(CurrentMessage())

    def process(refund_id: str) -> None:
        handle_refund_message(refund_id, services)

    declare = dramatiq.actor(
        broker=broker,
        actor_name=REFUND_ACTOR,
        queue_name=payments_queue(broker),
        max_retries=services.max_retries,
        min_backoff=services.min_backoff_ms,
        max_backoff=services.max_backoff_ms,
        throws=(PaymentExhausted, InvalidPaymentMessage),
    )
    actor: RefundActor = declare(process)
    return actor


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
        if message.refund_id is None:
            logger.error("outbox message %s is a refund message without a refund id; dropped", message.id)
            return
        delay_ms = int((message.available_at - self.clock.now()).total_seconds() * 1000)
        options: dict[str, Any] = {REQUEST_ID_OPTION: message.request_id} if message.request_id else {}
        self.actor.send_with_options(
            args=(str(message.refund_id),), delay=delay_ms if delay_ms > 0 else None, **options
        )
