"""The payment endpoints of ``/api/v1``: decode, then hand over to the one intake use case; nothing else.

Handlers are synchronous (run in a worker thread) because the use cases and ports are. Each POST
checks, in order: media type, ``Idempotency-Key``, JSON, shape; only then does a use case run, so
a rejected request stores nothing and may be retried, corrected, under the same key.

``/payments`` takes any method; ``/pay`` and ``/collect`` are documented UPI shortcuts, translated
here into the same ``PaymentIntent`` (method UPI, the rail's own field names) and the same path.
This module chooses the status codes: 200 for an accepted push payment, 202 for a collect request.
"""

from __future__ import annotations

import logging
from typing import Any, NamedTuple, TypedDict, TypeVar, cast

import msgspec
from litestar import Request, Response, get, post
from litestar.di import NamedDependency
from litestar.params import FromPath, RawBody

from flosspay.adapters.http.fields import convert_fields
from flosspay.adapters.http.hmac_auth import client_of
from flosspay.adapters.http.idempotent import accepted_response, idempotency_key, request_fingerprint
from flosspay.adapters.http.payloads import (
    COLLECT_ONLY_FIELDS,
    PAYMENT_HEADER_FIELDS,
    UPI_METHOD,
    CollectRequest,
    PaymentHeader,
    PayRequest,
    upi_fields,
)
from flosspay.adapters.http.request_body import decode_object, require_json
from flosspay.adapters.http.services import ApiServices, services_of
from flosspay.adapters.http.views import accepted_body, state_body
from flosspay.adapters.logs import request_id_var
from flosspay.adapters.metrics import PAYMENTS_CREATED, child
from flosspay.application.accept_payment import (
    FieldDecoder,
    PaymentAccepted,
    PaymentIntent,
    Renderer,
    accept_payment,
)
from flosspay.application.status import get_status
from flosspay.domain.errors import FieldError, ServiceUnavailable, ValidationFailed
from flosspay.domain.idempotency import Answer
from flosspay.domain.payment import Flow, Payment

PAYMENT_TAG = "payments"
logger = logging.getLogger("flosspay.http")

S = TypeVar("S", bound=msgspec.Struct)


class Intake(NamedTuple):
    """A POST that passed the generic checks: its key, its fingerprint, its JSON object."""

    key: str
    fingerprint: str
    data: dict[str, Any]


def read_intake(request: Request[Any, Any, Any], body: bytes, services: ApiServices) -> Intake:
    require_json(request.headers.get("content-type"))
    key = idempotency_key(request.headers.get("idempotency-key"))
    data = decode_object(body)
    fingerprint = request_fingerprint(request.method, request.scope["path"], data, services.fingerprint_key)
    return Intake(key, fingerprint, data)


def require_rail(services: ApiServices, method: str) -> None:
    """``/pay`` and ``/collect`` name no method: if theirs is not running, say so, and why (503, not a field error)."""
    if services.rails.by_method(method) is not None:
        return
    why = getattr(services.rails, "why_not_running", None)
    reason = why(method.lower()) if why is not None else "it is not enabled"
    raise ServiceUnavailable(f"the {method} rail is not enabled here: {reason}")


def accepted_answer(payment: Payment) -> Answer:
    """The answer to an accepted payment, stored with its key: 200 for a push payment, 202 for a collect request."""
    return Answer(200 if payment.flow is Flow.PAY else 202, accepted_body(payment))


class HttpIntake(TypedDict):
    """What the intake use case is given by this adapter: how rail fields are decoded, how answers look."""

    decode: FieldDecoder
    render: Renderer


HTTP_INTAKE: HttpIntake = {"decode": convert_fields, "render": accepted_answer}


def accept(intent: PaymentIntent, services: ApiServices) -> Response[bytes]:
    """The one intake path of every payment POST: the use case, then the stored answer as the response."""
    accepted = accept_payment(
        intent,
        uow_factory=services.uow_factory,
        rails=services.rails,
        clock=services.clock,
        policy=services.intake_policy,
        **HTTP_INTAKE,
    )
    counted(accepted, services, intent.method)
    return accepted_response(accepted)


def counted(accepted: PaymentAccepted, services: ApiServices, method: str) -> None:
    """Count a payment accepted now (a replay is not a new payment)."""
    if not accepted.replayed:
        rail = services.rails.by_method(method)
        name = rail.name if rail is not None else method.lower()
        child(PAYMENTS_CREATED, name).inc()
        logger.info("payment %s accepted (%s)", accepted.payment_id, name, extra={"payment_id": accepted.payment_id})


def shaped(data: dict[str, Any], type_: type[S]) -> S:
    """``data`` as ``type_``, or a 400 naming the offending field."""
    return cast(S, convert_fields(data, type_))


def shortcut_intent(
    intake: Intake, request: PayRequest | CollectRequest, client_id: str, flow: Flow, expires: int | None = None
) -> PaymentIntent:
    """A UPI shortcut's request as the one accept-payment command (what ``/payments`` with UPI would give)."""
    return PaymentIntent(
        client_id=client_id,
        idempotency_key=intake.key,
        fingerprint=intake.fingerprint,
        method=UPI_METHOD,
        flow=flow,
        amount=request.amount,
        currency=request.currency,
        fields=upi_fields(request),
        note=request.note,
        expires_in_minutes=expires,
        request_id=request_id_var.get(),
    )


@post(
    "/pay",
    operation_id="initiatePay",
    summary="Initiate a UPI payment",
    status_code=200,
    sync_to_thread=True,
    tags=[PAYMENT_TAG],
)
def initiate_pay_handler(request: Request[Any, Any, Any], body: RawBody) -> Response[bytes]:
    """Initiate a UPI push payment; it is processed asynchronously (poll its status)."""
    client_id, services = client_of(request), services_of(request)
    intake = read_intake(request, body, services)
    require_rail(services, UPI_METHOD)
    pay = shaped(intake.data, PayRequest)
    return accept(shortcut_intent(intake, pay, client_id, Flow.PAY), services)


@post(
    "/collect",
    operation_id="initiateCollect",
    summary="Send a UPI collect request",
    status_code=202,
    sync_to_thread=True,
    tags=[PAYMENT_TAG],
)
def initiate_collect_handler(request: Request[Any, Any, Any], body: RawBody) -> Response[bytes]:
    """Send a UPI collect request; the payer approves or declines it in their app."""
    client_id, services = client_of(request), services_of(request)
    intake = read_intake(request, body, services)
    require_rail(services, UPI_METHOD)
    collect = shaped(intake.data, CollectRequest)
    return accept(shortcut_intent(intake, collect, client_id, Flow.COLLECT, collect.expires_in_minutes), services)


@post(
    "/payments",
    operation_id="createPayment",
    summary="Pay with any enabled method",
    status_code=200,
    sync_to_thread=True,
    tags=[PAYMENT_TAG],
)
def create_payment_handler(request: Request[Any, Any, Any], body: RawBody) -> Response[bytes]:
    """Pay with any enabled method; the method's own fields sit beside ``method`` and ``amount``."""
    client_id, services = client_of(request), services_of(request)
    intake = read_intake(request, body, services)
    header_data = {k: v for k, v in intake.data.items() if k in PAYMENT_HEADER_FIELDS}
    header = shaped(header_data, PaymentHeader)
    if misplaced := sorted(COLLECT_ONLY_FIELDS & intake.data.keys()):
        message = "applies only to collect requests (POST /api/v1/collect)"
        raise ValidationFailed([FieldError(name, message) for name in misplaced])
    excluded = PAYMENT_HEADER_FIELDS | COLLECT_ONLY_FIELDS
    intent = PaymentIntent(
        client_id=client_id,
        idempotency_key=intake.key,
        fingerprint=intake.fingerprint,
        method=header.method,
        flow=Flow.PAY,
        amount=header.amount,
        currency=header.currency,
        fields={k: v for k, v in intake.data.items() if k not in excluded},
        note=header.note,
        request_id=request_id_var.get(),
    )
    return accept(intent, services)


@get(
    "/transaction/{id:str}/status",
    operation_id="getPaymentStatus",
    summary="Get a payment's status and history",
    sync_to_thread=True,
    tags=[PAYMENT_TAG],
)
def payment_status_handler(
    id: FromPath[str], client_id: NamedDependency[str], services: NamedDependency[ApiServices]
) -> Response[bytes]:
    """A payment's status with its full history; 404 for any id that is not the caller's."""
    state = get_status(client_id, id, uow_factory=services.uow_factory)
    return Response(content=state_body(state), status_code=200, media_type="application/json")


PAYMENT_HANDLERS = [initiate_pay_handler, initiate_collect_handler, create_payment_handler, payment_status_handler]
