"""The ``process_payment`` actor: turn one broker message into one run of the use case.

The use case decides; this module only translates its Disposition into what Dramatiq understands:
return to acknowledge, raise ``TransientFailure`` to be retried with backoff, raise
``PaymentExhausted`` (or ``InvalidPaymentMessage``) to have the message dead-lettered at once.

The attempt budget is the payment's own (kept in the database), not the message's retry count. When
the broker has no retry left for a payment that still has budget (its deliveries were spent on a
database outage, say), the message is acknowledged and the stalled sweep reschedules the payment
once its lease lapses, so an outage never fails, parks or strands a payment.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Callable
from typing import Any

import dramatiq
from dramatiq import Actor, Broker
from dramatiq.message import Message
from dramatiq.middleware import CurrentMessage

from flosspay.adapters import metrics
from flosspay.adapters.logs import bound
from flosspay.adapters.worker.instrumented import current_rail
from flosspay.adapters.worker.services import WorkerServices
from flosspay.application.process import Disposition, ProcessResult, process_payment

PAYMENTS_QUEUE = "payments"
PROCESS_ACTOR = "process_payment"

logger = logging.getLogger("flosspay.worker")


def payments_queue(broker: Broker) -> str:
    """The payments queue's name on ``broker``: ``payments``, or ``<ns>.payments`` on RabbitMQ (ADR 0016)."""
    return str(getattr(broker, "payments_queue", PAYMENTS_QUEUE))


class TransientFailure(dramatiq.Retry):
    """Retry this message after the Retries backoff (a ``Retry``, so Dramatiq logs no traceback)."""


class PaymentExhausted(Exception):
    """The use case gave up and failed the payment: the message goes to the dead-letter queue."""


class InvalidPaymentMessage(Exception):
    """The message does not carry a payment id; retrying cannot help, so it is dead-lettered."""


ProcessActor = Actor[[str], None]


def parse_payment_id(raw: object) -> uuid.UUID:
    if not isinstance(raw, str):
        raise InvalidPaymentMessage(f"payment id must be a string, got {type(raw).__name__}")
    try:
        return uuid.UUID(raw)
    except ValueError:
        raise InvalidPaymentMessage("payment id is not a UUID") from None


def is_final_attempt(message: Message[Any] | None, default_max_retries: int) -> bool:
    """True when the Retries middleware will not retry this delivery again (same precedence it uses)."""
    if message is None:
        return False
    retries = int(message.options.get("retries", 0))
    max_retries = message.options.get("max_retries", default_max_retries)
    return max_retries is not None and retries >= int(max_retries)


def lease_owner(worker_id: str) -> str:
    """One owner per thread, so two threads of one process never share a payment's lease."""
    return f"{worker_id}/{threading.get_ident()}"


def settle(ident: uuid.UUID, result: ProcessResult, last_delivery: bool = False, subject: str = "payment") -> None:
    """Acknowledge (return) or raise, according to the use case's disposition (``subject``: payment or refund)."""
    disposition = result.disposition
    if disposition is Disposition.RETRY:
        if last_delivery:
            logger.warning(
                "%s %s: transient (%s) on the broker's last delivery; the stalled sweep reschedules it",
                subject,
                ident,
                result.detail,
            )
            return
        logger.info("%s %s: transient (%s), will retry", subject, ident, result.detail)
        raise TransientFailure(f"{subject} {ident}: {result.detail}")
    if disposition is Disposition.EXHAUSTED:
        logger.warning("%s %s: attempts exhausted (%s), %s failed", subject, ident, result.detail, subject)
        raise PaymentExhausted(f"{subject} {ident}: {result.detail}")
    if disposition is Disposition.PARKED:
        # FlossPay's own dead letter (kept with the payment or refund): acknowledged here, listed by
        # `flosspay dead-letters list`, never picked up again until an operator requeues it.
        logger.warning("%s %s: dead-lettered (%s)", subject, ident, result.detail)
        return
    logger.info("%s %s: %s (%s)", subject, ident, disposition.value.lower(), result.detail)


def handle_process_message(raw_payment_id: object, services: WorkerServices) -> None:
    """Body of the actor, separate from Dramatiq so its mapping can be read (and tested) on its own."""
    payment_id = parse_payment_id(raw_payment_id)
    message = CurrentMessage.get_current_message()
    request_id = message.options.get(REQUEST_ID_OPTION) if message is not None else None
    with bound(payment_id=str(payment_id), request_id=request_id if isinstance(request_id, str) else None):
        current_rail.set(None)
        start = time.perf_counter()
        disposition = "error"
        last_delivery = is_final_attempt(message, services.max_retries)
        try:
            result = _process(payment_id, services, last_delivery)
            disposition = result.disposition.value.lower()
            observe_result(result, current_rail.get() or "unknown")
            settle(payment_id, result, last_delivery)
        finally:
            metrics.child(metrics.WORKER_PROCESSING, current_rail.get() or "unknown", disposition).observe(
                time.perf_counter() - start
            )


REQUEST_ID_OPTION = "flosspay_request_id"
"""The message option carrying the id of the HTTP request that accepted the payment (for the logs)."""

_FINISHED = {"COMPLETED": "completed", "DECLINED": "declined", "PAYER_DECLINED": "declined", "EXPIRED": "expired"}


def observe_result(result: ProcessResult, rail: str) -> None:
    """Count outcomes: completed, declined, expired (done now), failed (attempts exhausted), retries."""
    outcome, _, code = result.detail.partition(" ")
    if result.disposition is Disposition.DONE and outcome in _FINISHED:
        metrics.child(metrics.PAYMENTS_FINISHED, rail, _FINISHED[outcome], code or "-").inc()
    elif result.disposition is Disposition.EXHAUSTED:
        metrics.child(metrics.PAYMENTS_FINISHED, rail, "failed", code or outcome or "-").inc()
        metrics.child(metrics.DEAD_LETTERS, rail).inc()
    elif result.disposition is Disposition.RETRY:
        metrics.child(metrics.RETRIES, rail).inc()


def _process(payment_id: uuid.UUID, services: WorkerServices, last_delivery: bool) -> ProcessResult:
    try:
        return process_payment(
            payment_id,
            worker=lease_owner(services.worker_id),
            uow_factory=services.uow_factory,
            rails=services.rails,
            clock=services.clock,
            policy=services.policy,
            breakers=services.breakers,
        )
    except Exception as exc:
        # Database or other infrastructure trouble: retry later. The type only: messages can carry
        # connection strings or SQL parameters, and this text is stored with the message in Redis.
        detail = f"{type(exc).__name__} while processing"
        if last_delivery:  # observe_result counts it; settle() logs it and leaves it to the stalled sweep
            return ProcessResult(Disposition.RETRY, detail)
        metrics.child(metrics.RETRIES, current_rail.get() or "unknown").inc()
        logger.warning("payment %s: %s, will retry", payment_id, detail)
        raise TransientFailure(f"payment {payment_id}: {type(exc).__name__}") from None


def declare_on_payments_queue(
    broker: Broker, services: WorkerServices, name: str, handle: Callable[[object, WorkerServices], None]
) -> Actor[[str], None]:
    """Declare actor ``name`` on the payments queue with the shared retry settings (one pool of threads)."""
    if not any(isinstance(m, CurrentMessage) for m in broker.middleware):
        broker.add_middleware(CurrentMessage())

    def process(ident: str) -> None:
        handle(ident, services)

    declare = dramatiq.actor(
        broker=broker,
        actor_name=name,
        queue_name=payments_queue(broker),
        max_retries=services.max_retries,
        min_backoff=services.min_backoff_ms,
        max_backoff=services.max_backoff_ms,
        throws=(PaymentExhausted, InvalidPaymentMessage),
    )
    actor: Actor[[str], None] = declare(process)
    return actor


def declare_actors(broker: Broker, services: WorkerServices) -> ProcessActor:
    """Declare ``process_payment`` on ``broker`` (queue ``payments_queue(broker)``) and return it."""
    return declare_on_payments_queue(broker, services, PROCESS_ACTOR, handle_process_message)
