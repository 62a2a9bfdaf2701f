"""Send the webhooks that are due: claim a batch, have each signed and sent, log every attempt, schedule the rest.

At least once: a claimed delivery is leased, not removed, so if this sender dies mid-send another
takes it over when the lease ends, with the same ``webhook-id`` (receivers deduplicate on it).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Any

from flosspay.domain.ports import Clock
from flosspay.domain.webhook_ports import WebhookSender, WebhookUnitOfWorkFactory
from flosspay.domain.webhooks import (
    RESPONSE_LOG_BYTES,
    AttemptOutcome,
    AttemptRecord,
    DeliveryStatus,
    DueDelivery,
    SendResult,
    WebhookPolicy,
    next_attempt,
)

GONE = 410

Mapper = Callable[[Callable[[DueDelivery], tuple[datetime, SendResult]], list[DueDelivery]], Iterable[Any]]


def outcome(
    due: DueDelivery, result: SendResult, at: datetime, policy: WebhookPolicy
) -> tuple[DeliveryStatus, datetime | None]:
    """Delivered on a 2xx; FAILED on 410 or when the schedule is used up; else PENDING until the next try."""
    if result.succeeded:
        return DeliveryStatus.DELIVERED, None
    if result.status_code == GONE:
        return DeliveryStatus.FAILED, None
    retry_at = next_attempt(due.attempts + 1, policy.retry_schedule, at)
    return (DeliveryStatus.PENDING, retry_at) if retry_at is not None else (DeliveryStatus.FAILED, None)


def deliver_due(
    *,
    uow_factory: WebhookUnitOfWorkFactory,
    sender: WebhookSender,
    clock: Clock,
    policy: WebhookPolicy,
    map_: Mapper = map,
    observe: Callable[[AttemptOutcome], None] | None = None,
) -> int:
    """One pass: returns how many deliveries were attempted (``map_`` may run the sends concurrently).
    ``observe`` is told each attempt once its outcome is stored (the adapters count them for metrics)."""
    now = clock.now()
    claim = uuid.uuid4().hex
    with uow_factory() as uow:
        due = uow.webhooks.claim_due(now, policy.batch, now + policy.lease, claim, policy.breaker)
        uow.commit()
    if not due:
        return 0

    def send(item: DueDelivery) -> tuple[datetime, SendResult]:
        started = clock.now()
        return started, sender.send(item, int(started.timestamp()))

    results = list(map_(send, due))
    outcomes = []
    for item, (started, result) in zip(due, results, strict=True):
        status, retry_at = outcome(item, result, started, policy)
        attempt = AttemptRecord(
            delivery_id=item.delivery_id,
            event_id=item.event_id,
            endpoint_id=item.endpoint_id,
            url=item.url,
            attempted_at=started,
            duration_ms=result.duration_ms,
            response_status=result.status_code,
            response_body=result.body_head[:RESPONSE_LOG_BYTES],
            error=result.error,
            next_attempt_at=retry_at,
        )
        gone = result.status_code == GONE
        outcomes.append(AttemptOutcome(due=item, attempt=attempt, status=status, succeeded=result.succeeded, gone=gone))
    with uow_factory() as uow:
        uow.webhooks.finish(outcomes, policy.breaker)
        uow.commit()
    if observe is not None:
        for finished in outcomes:
            observe(finished)
    return len(due)
