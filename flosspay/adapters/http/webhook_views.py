"""What merchants see of their webhook endpoints, events and attempts (camelCase JSON), in the HTTP
adapter. Never a secret, except the one answer that creates it (or rotates it)."""

from __future__ import annotations

from datetime import datetime

import msgspec

from flosspay.application.webhook_endpoints import EventListing
from flosspay.domain.idempotency import Answer
from flosspay.domain.webhooks import AttemptRecord, Delivery, WebhookEndpoint, WebhookEvent


class EndpointView(msgspec.Struct, frozen=True, rename="camel", omit_defaults=True):
    id: str
    url: str
    events: list[str]
    description: str
    enabled: bool
    created_at: datetime
    updated_at: datetime
    disabled_reason: str | None = None
    secret: str | None = None
    previous_secret_expires_at: datetime | None = None


class DeliveryView(msgspec.Struct, frozen=True, rename="camel", omit_defaults=True):
    endpoint_id: str
    url: str
    status: str
    attempts: int
    next_attempt_at: datetime | None = None
    finished_at: datetime | None = None


class EventView(msgspec.Struct, frozen=True, rename="camel"):
    id: str
    type: str
    payment_id: str
    created_at: datetime
    deliveries: list[DeliveryView]


class AttemptView(msgspec.Struct, frozen=True, rename="camel"):
    attempted_at: datetime
    endpoint_id: str
    url: str
    response_status: int | None
    duration_ms: int
    response_body: str
    error: str | None
    next_attempt_at: datetime | None


def endpoint_view(endpoint: WebhookEndpoint, *, with_secret: bool = False) -> EndpointView:
    return EndpointView(
        id=endpoint.id,
        url=endpoint.url,
        events=[e.value for e in endpoint.events],
        description=endpoint.description,
        enabled=endpoint.enabled,
        created_at=endpoint.created_at,
        updated_at=endpoint.updated_at,
        disabled_reason=endpoint.disabled_reason,
        secret=endpoint.secret if with_secret else None,
        previous_secret_expires_at=endpoint.previous_secret_expires_at if with_secret else None,
    )


def event_view(event: WebhookEvent, deliveries: list[Delivery]) -> EventView:
    return EventView(
        id=event.id,
        type=event.type.value,
        payment_id=str(event.payment_id),
        created_at=event.created_at,
        deliveries=[
            DeliveryView(d.endpoint_id, d.url, d.status.value, d.attempts, d.next_attempt_at, d.finished_at)
            for d in deliveries
            if d.event_id == event.id
        ],
    )


def attempt_view(a: AttemptRecord) -> AttemptView:
    return AttemptView(
        attempted_at=a.attempted_at,
        endpoint_id=a.endpoint_id,
        url=a.url,
        response_status=a.response_status,
        duration_ms=a.duration_ms,
        response_body=a.response_body,
        error=a.error,
        next_attempt_at=a.next_attempt_at,
    )


def endpoint_body(endpoint: WebhookEndpoint) -> bytes:
    return msgspec.json.encode(endpoint_view(endpoint))


def endpoints_body(endpoints: list[WebhookEndpoint]) -> bytes:
    return msgspec.json.encode([endpoint_view(e) for e in endpoints])


def events_body(listing: EventListing) -> bytes:
    return msgspec.json.encode([event_view(e, listing.deliveries) for e in listing.events])


def attempts_body(attempts: list[AttemptRecord]) -> bytes:
    return msgspec.json.encode([attempt_view(a) for a in attempts])


class HttpWebhookAnswers:
    """The answers to the keyed webhook POSTs, as HTTP gives them (stored for replays by the core)."""

    def created(self, endpoint: WebhookEndpoint) -> Answer:
        """201 with the endpoint and its ``whsec_`` secret: the only answer that ever shows the secret."""
        return Answer(201, msgspec.json.encode(endpoint_view(endpoint, with_secret=True)))

    def rotated(self, endpoint: WebhookEndpoint) -> Answer:
        return Answer(200, msgspec.json.encode(endpoint_view(endpoint, with_secret=True)))

    def redelivered(self, event_id: str, scheduled: int) -> Answer:
        return Answer(202, msgspec.json.encode({"id": event_id, "scheduledDeliveries": scheduled}))


HTTP_WEBHOOK_ANSWERS = HttpWebhookAnswers()
