"""Rows ↔ domain objects. Times arrive and leave timezone-aware UTC (see ``column_types.UtcDateTime``)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy import RowMapping

from flosspay.adapters.secret_box import SecretBox
from flosspay.domain.bucket import BucketLimit
from flosspay.domain.clients import ApiClient
from flosspay.domain.idempotency import IdempotencyRecord
from flosspay.domain.money import Money
from flosspay.domain.outbox import OutboxMessage
from flosspay.domain.payment import AttemptOutcome, Flow, Payment, PaymentStatus, RailAttempt, StatusChange

Row = RowMapping


# --- payments -------------------------------------------------------------------------------------


def payment_row(payment: Payment) -> dict[str, Any]:
    return {
        "id": payment.id,
        "client_id": payment.client_id,
        "flow": payment.flow.value,
        "method": payment.method,
        "rail": payment.rail,
        "amount_minor": payment.amount.minor,
        "currency": payment.amount.currency,
        "details": payment.details,
        "public": payment.public,
        "note": payment.note,
        "status": payment.status.value,
        "created_at": payment.created_at,
        "updated_at": payment.updated_at,
        "expires_at": payment.expires_at,
        "failure_code": payment.failure_code,
        "failure_reason": payment.failure_reason,
        "lease_owner": payment.lease_owner,
        "lease_expires_at": payment.lease_expires_at,
        "version": payment.version,
        "payer_account": payment.payer_account,
        "payee_account": payment.payee_account,
        "next_action": payment.next_action,
        "parked_at": payment.parked_at,
        "parked_reason": payment.parked_reason,
        "attempt_floor": payment.attempt_floor,
    }


def payment_changes(payment: Payment) -> dict[str, Any]:
    """The columns ``save`` may change (everything fixed at acceptance is left alone)."""
    return {
        "status": payment.status.value,
        "updated_at": payment.updated_at,
        "expires_at": payment.expires_at,
        "failure_code": payment.failure_code,
        "failure_reason": payment.failure_reason,
        "lease_owner": payment.lease_owner,
        "lease_expires_at": payment.lease_expires_at,
        "next_action": payment.next_action,
        "parked_at": payment.parked_at,
        "parked_reason": payment.parked_reason,
        "attempt_floor": payment.attempt_floor,
    }


def payment_from_row(row: Row, history: Sequence[Row], attempts: Sequence[Row]) -> Payment:
    return Payment(
        id=row["id"],
        client_id=row["client_id"],
        flow=Flow(row["flow"]),
        method=row["method"],
        rail=row["rail"],
        amount=Money(row["amount_minor"], row["currency"]),
        details=row["details"],
        public=row["public"],
        note=row["note"],
        status=PaymentStatus(row["status"]),
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        expires_at=row["expires_at"],
        failure_code=row["failure_code"],
        failure_reason=row["failure_reason"],
        lease_owner=row["lease_owner"],
        lease_expires_at=row["lease_expires_at"],
        version=row["version"],
        payer_account=row["payer_account"],
        payee_account=row["payee_account"],
        next_action=row["next_action"],
        parked_at=row["parked_at"],
        parked_reason=row["parked_reason"],
        attempt_floor=row["attempt_floor"],
        history=[change_from_row(h) for h in history],
        attempts=[attempt_from_row(a) for a in attempts],
    )


def history_rows(payment: Payment) -> list[dict[str, Any]]:
    """Rows for ``payment.new_history``, numbered after the rows already stored."""
    first = len(payment.history) - len(payment.new_history)
    return [
        {
            "payment_id": payment.id,
            "seq": first + offset,
            "from_status": change.from_status.value if change.from_status is not None else None,
            "to_status": change.to_status.value,
            "at": change.at,
            "reason": change.reason,
            "attempt": change.attempt,
        }
        for offset, change in enumerate(payment.new_history)
    ]


def change_from_row(row: Row) -> StatusChange:
    from_status = row["from_status"]
    return StatusChange(
        from_status=PaymentStatus(from_status) if from_status is not None else None,
        to_status=PaymentStatus(row["to_status"]),
        at=row["at"],
        reason=row["reason"],
        attempt=row["attempt"],
    )


def attempt_row(payment_id: uuid.UUID, attempt: RailAttempt) -> dict[str, Any]:
    return {
        "payment_id": payment_id,
        "number": attempt.number,
        "action": attempt.action,
        "outcome": attempt.outcome.value,
        "code": attempt.code,
        "reason": attempt.reason,
        "started_at": attempt.started_at,
        "finished_at": attempt.finished_at,
    }


def attempt_from_row(row: Row) -> RailAttempt:
    return RailAttempt(
        number=row["number"],
        started_at=row["started_at"],
        outcome=AttemptOutcome(row["outcome"]),
        code=row["code"],
        reason=row["reason"],
        finished_at=row["finished_at"],
        action=row["action"],
    )


# --- idempotency, outbox, clients -----------------------------------------------------------------


def idempotency_row(record: IdempotencyRecord) -> dict[str, Any]:
    return {
        "client_id": record.client_id,
        "key": record.key,
        "fingerprint": record.fingerprint,
        "response_status": record.response_status,
        "response_body": record.response_body,
        "created_at": record.created_at,
        "expires_at": record.expires_at,
        "payment_id": record.payment_id,
    }


def idempotency_from_row(row: Row) -> IdempotencyRecord:
    return IdempotencyRecord(
        client_id=row["client_id"],
        key=row["key"],
        fingerprint=row["fingerprint"],
        response_status=row["response_status"],
        response_body=bytes(row["response_body"]),
        created_at=row["created_at"],
        expires_at=row["expires_at"],
        payment_id=row["payment_id"],
    )


def outbox_row(message: OutboxMessage) -> dict[str, Any]:
    row = {
        "payment_id": message.payment_id,
        "topic": message.topic,
        "available_at": message.available_at,
        "request_id": message.request_id,
    }
    if message.refund_id is not None:  # a refund's message (issue 13); the payment intake's rows stay as they were
        row["refund_id"] = message.refund_id
    return row


def outbox_from_row(row: Row) -> OutboxMessage:
    return OutboxMessage(
        payment_id=row["payment_id"],
        topic=row["topic"],
        available_at=row["available_at"],
        id=row["id"],
        request_id=row.get("request_id"),
        refund_id=row.get("refund_id"),
    )


def _client_context(client_id: str, column: str) -> str:
    """Associated data of a sealed secret: a value copied to another row or column does not open."""
    return f"api_clients.{column}:{client_id}"


def client_row(client: ApiClient, box: SecretBox) -> dict[str, Any]:
    """The stored row: secrets sealed (``secret_key_id`` names the key), never in plain text."""
    key_id, sealed = box.seal(client.secret, _client_context(client.client_id, "secret"))
    previous_key_id = previous = None
    if client.previous_secret is not None:
        previous_key_id, previous = box.seal(
            client.previous_secret, _client_context(client.client_id, "previous_secret")
        )
    return {
        "client_id": client.client_id,
        "name": client.name,
        "secret": sealed,
        "secret_key_id": key_id,
        "previous_secret": previous,
        "previous_secret_key_id": previous_key_id,
        "previous_secret_expires_at": client.previous_secret_expires_at if previous is not None else None,
        "created_at": client.created_at,
        "active": client.active,
        "rate_per_second": client.limit.rate,
        "burst": client.limit.burst,
    }


def client_from_row(row: Row, box: SecretBox) -> ApiClient:
    client_id = row["client_id"]
    previous = None
    if row["previous_secret"] is not None:
        context = _client_context(client_id, "previous_secret")
        previous = box.open(row["previous_secret_key_id"], row["previous_secret"], context)
    return ApiClient(
        client_id=client_id,
        name=row["name"],
        secret=box.open(row["secret_key_id"], row["secret"], _client_context(client_id, "secret")),
        created_at=row["created_at"],
        active=row["active"],
        previous_secret=previous,
        previous_secret_expires_at=row["previous_secret_expires_at"] if previous is not None else None,
        limit=BucketLimit(rate=row["rate_per_second"], burst=row["burst"]),
    )
