"""A merchant's webhook endpoints: register (the secret shown once), list, read, change, delete, rotate.

Every POST is idempotent the way payments are: the work and the key's claim share one transaction,
so a replay returns the first answer and a rejected request stores nothing. What an answer looks like
(status code, JSON) is the adapter's (``WebhookAnswers``); reads return the domain's objects.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

from flosspay.domain.errors import FieldError, IdempotencyInProgress, NotFound, ValidationFailed
from flosspay.domain.idempotency import Answer, IdempotencyRecord, decide
from flosspay.domain.ports import Clock
from flosspay.domain.webhook_ports import WebhookUnitOfWork, WebhookUnitOfWorkFactory
from flosspay.domain.webhooks import (
    AttemptRecord,
    Delivery,
    WebhookEndpoint,
    WebhookEvent,
    WebhookPolicy,
    check_description,
    check_events,
    check_url,
    new_endpoint_id,
    new_secret,
)

ENDPOINT_FIELDS = frozenset({"url", "events", "description"})
PATCH_FIELDS = frozenset({"url", "events", "description", "enabled"})
MAX_EVENTS_LISTED = 100


class WebhookAnswers(Protocol):
    """The adapter's answers to the keyed POSTs, rendered inside the transaction and stored for replays."""

    def created(self, endpoint: WebhookEndpoint) -> Answer:
        """A registered endpoint, its new secret shown this once."""
        ...

    def rotated(self, endpoint: WebhookEndpoint) -> Answer:
        """An endpoint with its rotated secret."""
        ...

    def redelivered(self, event_id: str, scheduled: int) -> Answer:
        """An event sent again: how many deliveries were scheduled."""
        ...


@dataclass(frozen=True, slots=True)
class EventListing:
    """A client's events, newest first, and their deliveries (to any number of endpoints)."""

    events: list[WebhookEvent]
    deliveries: list[Delivery]


@dataclass(frozen=True, slots=True, kw_only=True)
class WebhookContext:
    """What every webhook use case needs; ``vet_url`` resolves a URL's host and refuses unsafe addresses."""

    uow_factory: WebhookUnitOfWorkFactory
    clock: Clock
    policy: WebhookPolicy
    vet_url: Callable[[str], None]
    answers: WebhookAnswers
    idempotency_ttl: timedelta = timedelta(hours=24)


@dataclass(frozen=True, slots=True)
class Keyed:
    """A keyed request's answer (``replayed``: the stored first one, for a repeat)."""

    answer: Answer
    replayed: bool = False


@dataclass(frozen=True, slots=True)
class KeyedRequest:
    client_id: str
    idempotency_key: str
    fingerprint: str


def _unknown_fields(data: dict[str, Any], allowed: frozenset[str]) -> None:
    if extra := sorted(data.keys() - allowed):
        raise ValidationFailed([FieldError(name, "is not a known field") for name in extra])


def _url(data: dict[str, Any], ctx: WebhookContext) -> str:
    url = check_url(data.get("url"), ctx.policy.allow_private_urls)
    ctx.vet_url(url)
    return url


def _keyed(request: KeyedRequest, ctx: WebhookContext, work: Callable[[WebhookUnitOfWork, datetime], Answer]) -> Keyed:
    """Run ``work`` and claim the key in one transaction; a key used before replays its first answer."""
    now = ctx.clock.now()
    with ctx.uow_factory() as uow:
        answer = work(uow, now)
        record = IdempotencyRecord(
            client_id=request.client_id,
            key=request.idempotency_key,
            fingerprint=request.fingerprint,
            response_status=answer.status,
            response_body=answer.body,
            created_at=now,
            expires_at=now + ctx.idempotency_ttl,
        )
        if uow.idempotency.claim(record, now):
            uow.commit()
            return Keyed(answer)
        existing = uow.idempotency.get(request.client_id, request.idempotency_key)
    # Leaving the block without commit rolled the work back.
    if existing is None:
        raise IdempotencyInProgress("a request with this idempotency key is in progress; retry shortly")
    decide(existing, request.fingerprint)
    return Keyed(existing.answer, replayed=True)


def create_endpoint(request: KeyedRequest, data: dict[str, Any], ctx: WebhookContext) -> Keyed:
    """Register an endpoint; the answer (``answers.created``) is the only one that ever shows its secret."""
    _unknown_fields(data, ENDPOINT_FIELDS)
    url = _url(data, ctx)
    events = check_events(data.get("events"))
    description = check_description(data.get("description"))

    def work(uow: WebhookUnitOfWork, now: datetime) -> Answer:
        endpoint = WebhookEndpoint(
            id=new_endpoint_id(),
            client_id=request.client_id,
            url=url,
            events=events,
            description=description,
            enabled=True,
            created_at=now,
            updated_at=now,
            secret=new_secret(),
        )
        uow.webhooks.add_endpoint(endpoint)
        return ctx.answers.created(endpoint)

    return _keyed(request, ctx, work)


def rotate_secret(request: KeyedRequest, endpoint_id: str, ctx: WebhookContext) -> Keyed:
    """A new secret; the old one keeps signing too (both in one header) for the policy's overlap."""

    def work(uow: WebhookUnitOfWork, now: datetime) -> Answer:
        endpoint = _own(uow, request.client_id, endpoint_id)
        endpoint.previous_secret = endpoint.secret
        endpoint.previous_secret_expires_at = now + ctx.policy.secret_overlap
        endpoint.secret = new_secret()
        endpoint.updated_at = now
        uow.webhooks.update_endpoint(endpoint)
        return ctx.answers.rotated(endpoint)

    return _keyed(request, ctx, work)


def redeliver_event(request: KeyedRequest, event_id: str, ctx: WebhookContext) -> Keyed:
    """Send an event again to every subscribed endpoint, with a fresh retry budget."""

    def work(uow: WebhookUnitOfWork, now: datetime) -> Answer:
        event = uow.webhooks.get_event(request.client_id, event_id)
        if event is None:
            raise NotFound(f"no webhook event {event_id!r}")
        scheduled = uow.webhooks.redeliver(event, now)
        return ctx.answers.redelivered(event.id, scheduled)

    return _keyed(request, ctx, work)


def _own(uow: WebhookUnitOfWork, client_id: str, endpoint_id: str) -> WebhookEndpoint:
    endpoint = uow.webhooks.get_endpoint(client_id, endpoint_id)
    if endpoint is None:
        raise NotFound(f"no webhook endpoint {endpoint_id!r}")
    return endpoint


def list_endpoints(client_id: str, ctx: WebhookContext) -> list[WebhookEndpoint]:
    with ctx.uow_factory() as uow:
        return list(uow.webhooks.list_endpoints(client_id))


def get_endpoint(client_id: str, endpoint_id: str, ctx: WebhookContext) -> WebhookEndpoint:
    with ctx.uow_factory() as uow:
        return _own(uow, client_id, endpoint_id)


def update_endpoint(client_id: str, endpoint_id: str, data: dict[str, Any], ctx: WebhookContext) -> WebhookEndpoint:
    """PATCH: any of url, events, description, enabled. Enabling again closes its breaker."""
    _unknown_fields(data, PATCH_FIELDS)
    url = _url(data, ctx) if "url" in data else None
    events = check_events(data["events"]) if "events" in data else None
    description = check_description(data.get("description")) if "description" in data else None
    enabled = data.get("enabled")
    if "enabled" in data and not isinstance(enabled, bool):
        raise ValidationFailed([FieldError("enabled", "must be true or false")])
    with ctx.uow_factory() as uow:
        endpoint = _own(uow, client_id, endpoint_id)
        reenabled = enabled is True and not endpoint.enabled
        if url is not None:
            endpoint.url = url
        if events is not None:
            endpoint.events = events
        if description is not None:
            endpoint.description = description
        if enabled is not None:
            endpoint.enabled = enabled
            endpoint.disabled_reason = None if enabled else "disabled by the merchant"
        endpoint.updated_at = ctx.clock.now()
        uow.webhooks.update_endpoint(endpoint, reset_breaker=reenabled)
        uow.commit()
    return endpoint


def delete_endpoint(client_id: str, endpoint_id: str, ctx: WebhookContext) -> None:
    with ctx.uow_factory() as uow:
        if not uow.webhooks.delete_endpoint(client_id, endpoint_id, ctx.clock.now()):
            raise NotFound(f"no webhook endpoint {endpoint_id!r}")
        uow.commit()


def list_events(client_id: str, payment_id: str | None, ctx: WebhookContext) -> EventListing:
    """The client's events (newest first, at most 100), each with its deliveries; 404-free filtering."""
    pid = None
    if payment_id is not None:
        try:
            pid = uuid.UUID(payment_id)
        except ValueError:
            raise ValidationFailed([FieldError("paymentId", "must be a payment id (UUID)")]) from None
    with ctx.uow_factory() as uow:
        events = uow.webhooks.list_events(client_id, pid, MAX_EVENTS_LISTED)
        deliveries = uow.webhooks.deliveries([e.id for e in events])
    return EventListing(list(events), list(deliveries))


def event_attempts(client_id: str, event_id: str, ctx: WebhookContext) -> list[AttemptRecord]:
    with ctx.uow_factory() as uow:
        if uow.webhooks.get_event(client_id, event_id) is None:
            raise NotFound(f"no webhook event {event_id!r}")
        return list(uow.webhooks.attempts(event_id))
