"""Ports of the webhook use cases: the store of endpoints, events and deliveries, and the sender.

Kept apart from ``ports.py`` so the payment use cases' unit of work need not know about webhooks.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from types import TracebackType
from typing import Protocol, Self

from flosspay.domain.idempotency import IdempotencyRecord
from flosspay.domain.webhooks import (
    AttemptOutcome,
    AttemptRecord,
    BreakerRule,
    Delivery,
    DueDelivery,
    SendResult,
    WebhookEndpoint,
    WebhookEvent,
)


class WebhookRepository(Protocol):
    def add_event(self, event: WebhookEvent) -> int:
        """Store the event once and create a delivery per subscribed, enabled endpoint; returns that count."""
        ...

    def add_endpoint(self, endpoint: WebhookEndpoint) -> None: ...

    def get_endpoint(self, client_id: str, endpoint_id: str) -> WebhookEndpoint | None:
        """The client's own, not deleted endpoint, or None (another client's is None too)."""
        ...

    def list_endpoints(self, client_id: str) -> list[WebhookEndpoint]: ...

    def update_endpoint(self, endpoint: WebhookEndpoint, reset_breaker: bool = False) -> None: ...

    def delete_endpoint(self, client_id: str, endpoint_id: str, now: datetime) -> bool: ...

    def list_events(self, client_id: str, payment_id: uuid.UUID | None, limit: int) -> list[WebhookEvent]:
        """Newest first."""
        ...

    def get_event(self, client_id: str, event_id_: str) -> WebhookEvent | None: ...

    def deliveries(self, event_ids: Sequence[str]) -> list[Delivery]: ...

    def attempts(self, event_id_: str) -> list[AttemptRecord]:
        """Oldest first."""
        ...

    def redeliver(self, event: WebhookEvent, now: datetime) -> int: ...

    def claim_due(
        self, now: datetime, limit: int, lease_until: datetime, claim: str, rule: BreakerRule
    ) -> list[DueDelivery]: ...

    def finish(self, outcomes: Sequence[AttemptOutcome], rule: BreakerRule) -> None:
        """Log each attempt, move its delivery on unless another sender took it over since, and
        update each endpoint's breaker (a 410 disables the endpoint)."""
        ...


class IdempotencyClaims(Protocol):
    def claim(self, record: IdempotencyRecord, now: datetime) -> bool: ...

    def get(self, client_id: str, key: str) -> IdempotencyRecord | None: ...


class WebhookUnitOfWork(Protocol):
    webhooks: WebhookRepository
    idempotency: IdempotencyClaims

    def __enter__(self) -> Self: ...

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None: ...

    def commit(self) -> None: ...


class WebhookUnitOfWorkFactory(Protocol):
    def __call__(self) -> WebhookUnitOfWork: ...


class WebhookSender(Protocol):
    def send(self, due: DueDelivery, timestamp: int) -> SendResult:
        """Sign ``due.payload`` at ``timestamp`` (Unix seconds) and POST it to ``due.url``; never raises
        (failures are results). The signing scheme and headers are the sender's: they are the wire's."""
        ...
