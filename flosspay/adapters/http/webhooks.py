"""Webhook endpoints and the delivery log under ``/api/v1``: decode, hand over to a use case; nothing else.

POSTs follow the payments' rules (JSON media type, ``Idempotency-Key``, then shape); the
rotate-secret and redeliver POSTs take an empty body or ``{}``.
"""

from __future__ import annotations

from typing import Annotated, Any

from litestar import Request, Response, delete, get, patch, post
from litestar.di import NamedDependency
from litestar.params import FromPath, QueryParameter, RawBody

from flosspay.adapters.http import webhook_views as views
from flosspay.adapters.http.idempotent import accepted_response, idempotency_key, request_fingerprint
from flosspay.adapters.http.request_body import decode_object, require_json
from flosspay.adapters.http.services import ApiServices
from flosspay.application import webhook_endpoints as uc
from flosspay.domain.errors import ServiceUnavailable

WEBHOOK_TAG = "webhooks"
JSON = "application/json"


def _context(services: ApiServices) -> uc.WebhookContext:
    if services.webhooks is None:
        raise ServiceUnavailable("webhooks are not configured in this process")
    return services.webhooks


def _keyed(
    request: Request[Any, Any, Any], body: bytes, client_id: str, services: ApiServices, optional_body: bool = False
) -> tuple[uc.KeyedRequest, dict[str, Any]]:
    """Media type, ``Idempotency-Key``, JSON, in the payments' order; the fingerprint of what was sent."""
    empty = optional_body and not body.strip()
    if not empty:
        require_json(request.headers.get("content-type"))
    key = idempotency_key(request.headers.get("idempotency-key"))
    data: dict[str, Any] = {} if empty else decode_object(body)
    fingerprint = request_fingerprint(request.method, request.scope["path"], data, services.fingerprint_key)
    return uc.KeyedRequest(client_id, key, fingerprint), data


def _json(body: bytes, status: int = 200) -> Response[bytes]:
    return Response(content=body, status_code=status, media_type=JSON)


@post(
    "/webhook-endpoints",
    operation_id="createWebhookEndpoint",
    summary="Register a webhook endpoint (its secret is shown only in this answer)",
    status_code=201,
    sync_to_thread=True,
    tags=[WEBHOOK_TAG],
)
def create_endpoint_handler(
    request: Request[Any, Any, Any],
    body: RawBody,
    client_id: NamedDependency[str],
    services: NamedDependency[ApiServices],
) -> Response[bytes]:
    """`{"url", "events"?, "description"?}`; `events` defaults to every event type."""
    keyed, data = _keyed(request, body, client_id, services)
    return accepted_response(uc.create_endpoint(keyed, data, _context(services)))


@get(
    "/webhook-endpoints",
    operation_id="listWebhookEndpoints",
    summary="List your webhook endpoints",
    sync_to_thread=True,
    tags=[WEBHOOK_TAG],
)
def list_endpoints_handler(client_id: NamedDependency[str], services: NamedDependency[ApiServices]) -> Response[bytes]:
    return _json(views.endpoints_body(uc.list_endpoints(client_id, _context(services))))


@get(
    "/webhook-endpoints/{id:str}",
    operation_id="getWebhookEndpoint",
    summary="Get one webhook endpoint",
    sync_to_thread=True,
    tags=[WEBHOOK_TAG],
)
def get_endpoint_handler(
    id: FromPath[str], client_id: NamedDependency[str], services: NamedDependency[ApiServices]
) -> Response[bytes]:
    return _json(views.endpoint_body(uc.get_endpoint(client_id, id, _context(services))))


@patch(
    "/webhook-endpoints/{id:str}",
    operation_id="updateWebhookEndpoint",
    summary="Change a webhook endpoint's url, events, description or enabled",
    sync_to_thread=True,
    tags=[WEBHOOK_TAG],
)
def update_endpoint_handler(
    id: FromPath[str],
    request: Request[Any, Any, Any],
    body: RawBody,
    client_id: NamedDependency[str],
    services: NamedDependency[ApiServices],
) -> Response[bytes]:
    require_json(request.headers.get("content-type"))
    return _json(views.endpoint_body(uc.update_endpoint(client_id, id, decode_object(body), _context(services))))


@delete(
    "/webhook-endpoints/{id:str}",
    operation_id="deleteWebhookEndpoint",
    summary="Delete a webhook endpoint (its pending deliveries are dropped)",
    status_code=204,
    sync_to_thread=True,
    tags=[WEBHOOK_TAG],
)
def delete_endpoint_handler(
    id: FromPath[str], client_id: NamedDependency[str], services: NamedDependency[ApiServices]
) -> None:
    uc.delete_endpoint(client_id, id, _context(services))


@post(
    "/webhook-endpoints/{id:str}/rotate-secret",
    operation_id="rotateWebhookSecret",
    summary="Rotate an endpoint's secret; the old one keeps signing during the overlap",
    status_code=200,
    sync_to_thread=True,
    tags=[WEBHOOK_TAG],
)
def rotate_secret_handler(
    id: FromPath[str],
    request: Request[Any, Any, Any],
    body: RawBody,
    client_id: NamedDependency[str],
    services: NamedDependency[ApiServices],
) -> Response[bytes]:
    keyed, _ = _keyed(request, body, client_id, services, optional_body=True)
    return accepted_response(uc.rotate_secret(keyed, id, _context(services)))


@get(
    "/webhook-events",
    operation_id="listWebhookEvents",
    summary="Webhook events (newest first), each with its deliveries",
    sync_to_thread=True,
    tags=[WEBHOOK_TAG],
)
def list_events_handler(
    client_id: NamedDependency[str],
    services: NamedDependency[ApiServices],
    payment_id: Annotated[str | None, QueryParameter(name="paymentId")] = None,
) -> Response[bytes]:
    """Filter with `?paymentId=`."""
    return _json(views.events_body(uc.list_events(client_id, payment_id, _context(services))))


@get(
    "/webhook-events/{id:str}/attempts",
    operation_id="listWebhookAttempts",
    summary="Every delivery attempt of an event: time, URL, response code, duration, body start, next try",
    sync_to_thread=True,
    tags=[WEBHOOK_TAG],
)
def attempts_handler(
    id: FromPath[str], client_id: NamedDependency[str], services: NamedDependency[ApiServices]
) -> Response[bytes]:
    return _json(views.attempts_body(uc.event_attempts(client_id, id, _context(services))))


@post(
    "/webhook-events/{id:str}/redeliver",
    operation_id="redeliverWebhookEvent",
    summary="Send an event again to every subscribed endpoint",
    status_code=202,
    sync_to_thread=True,
    tags=[WEBHOOK_TAG],
)
def redeliver_handler(
    id: FromPath[str],
    request: Request[Any, Any, Any],
    body: RawBody,
    client_id: NamedDependency[str],
    services: NamedDependency[ApiServices],
) -> Response[bytes]:
    keyed, _ = _keyed(request, body, client_id, services, optional_body=True)
    return accepted_response(uc.redeliver_event(keyed, id, _context(services)))


WEBHOOK_HANDLERS = [
    create_endpoint_handler,
    list_endpoints_handler,
    get_endpoint_handler,
    update_endpoint_handler,
    delete_endpoint_handler,
    rotate_secret_handler,
    list_events_handler,
    attempts_handler,
    redeliver_handler,
]
