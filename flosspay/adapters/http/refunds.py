"""The refund endpoints of ``/api/v1`` (issue 13): decode, then hand over to a use case; nothing else.

``POST /transaction/{id}/refunds`` follows ``/pay``'s rules: media type, ``Idempotency-Key``, JSON,
shape, in that order, then the use case; a replay carries ``Idempotent-Replayed: true``.
"""

from __future__ import annotations

import logging
from typing import Annotated, Any

import msgspec
from litestar import Request, Response, get, post
from litestar.di import NamedDependency
from litestar.params import FromPath, RawBody

from flosspay.adapters.http.idempotent import accepted_response
from flosspay.adapters.http.payloads import Amount
from flosspay.adapters.http.payments import read_intake, shaped
from flosspay.adapters.http.refund_views import accepted_refund_answer, refund_detail_body
from flosspay.adapters.http.services import ApiServices
from flosspay.adapters.logs import request_id_var
from flosspay.application.refunds import RefundCommand, get_refund, request_refund
from flosspay.domain.refund import MAX_REASON_LENGTH

REFUND_TAG = "refunds"
logger = logging.getLogger("flosspay.http")


class RefundRequest(msgspec.Struct, forbid_unknown_fields=True):
    """``amount`` defaults to all that is still refundable; ``reason`` is shown with the refund."""

    amount: Amount | None = None
    reason: (
        Annotated[
            str,
            msgspec.Meta(
                description=f"Why the money goes back (at most {MAX_REASON_LENGTH} characters).",
                extra_json_schema={"maxLength": MAX_REASON_LENGTH},
            ),
        ]
        | None
    ) = None


@post(
    "/transaction/{id:str}/refunds",
    operation_id="createRefund",
    summary="Refund all or part of a completed payment",
    status_code=202,
    sync_to_thread=True,
    tags=[REFUND_TAG],
)
def create_refund_handler(
    request: Request[Any, Any, Any],
    id: FromPath[str],
    body: RawBody,
    client_id: NamedDependency[str],
    services: NamedDependency[ApiServices],
) -> Response[bytes]:
    """Refund a COMPLETED payment; processed asynchronously at its rail (poll ``GET /refunds/{id}``)."""
    intake = read_intake(request, body, services)
    payload = shaped(intake.data, RefundRequest)
    command = RefundCommand(
        client_id=client_id,
        idempotency_key=intake.key,
        fingerprint=intake.fingerprint,
        payment_id=id,
        amount=payload.amount,
        reason=payload.reason,
        request_id=request_id_var.get(),
    )
    accepted = request_refund(
        command,
        uow_factory=services.uow_factory,
        rails=services.rails,
        clock=services.clock,
        policy=services.intake_policy,
        render=accepted_refund_answer,
    )
    if not accepted.replayed:
        logger.info("refund %s accepted for payment %s", accepted.refund_id, id)
    return accepted_response(accepted)


@get(
    "/refunds/{id:str}",
    operation_id="getRefund",
    summary="Get a refund's status and history",
    sync_to_thread=True,
    tags=[REFUND_TAG],
)
def refund_status_handler(
    id: FromPath[str], client_id: NamedDependency[str], services: NamedDependency[ApiServices]
) -> Response[bytes]:
    """A refund with its history; 404 for any id that is not the caller's."""
    state = get_refund(client_id, id, uow_factory=services.uow_factory)
    body = refund_detail_body(state.refund, state.ledger_entry_id)
    return Response(content=body, status_code=200, media_type="application/json")


REFUND_HANDLERS = [create_refund_handler, refund_status_handler]
