"""``/pay`` and ``/collect`` are UPI shortcuts onto the one intake: the same payment ``/payments`` makes.

The HTTP adapter documents the shortcuts' address shape itself (the core cannot import the UPI
plugin, which depends on it): these tests pin it to the rail's own rule.
"""

from __future__ import annotations

import re
import uuid

import pytest
from flosspay_upi.vpa import MAX_VPA_LENGTH, VPA_PATTERN
from http_api_support import SignedClient, pay_body

from flosspay.adapters.http import payloads

pytestmark = pytest.mark.integration


def test_the_shortcuts_document_the_upi_rails_own_address_rule() -> None:
    assert VPA_PATTERN.pattern == payloads.UPI_ADDRESS_PATTERN
    assert payloads.UPI_ADDRESS_MAX_LENGTH == MAX_VPA_LENGTH
    assert re.fullmatch(payloads.UPI_ADDRESS_PATTERN, "alice@okbank")


def _stored(api: SignedClient, body: dict[str, object]) -> tuple[object, ...]:
    payment = api.world.store.payments[uuid.UUID(str(body["id"]))]
    return (payment.method, payment.rail, payment.flow, payment.amount, payment.details, payment.note)


def test_pay_makes_the_payment_payments_with_upi_makes(api: SignedClient) -> None:
    short = api.post("/api/v1/pay", pay_body(amount="28.50", note="lunch"), key="short")
    generic = api.post("/api/v1/payments", pay_body(method="UPI", amount="28.50", note="lunch"), key="generic")
    assert (short.status_code, generic.status_code) == (200, 200)
    assert _stored(api, short.json()) == _stored(api, generic.json())
    same = {k: v for k, v in short.json().items() if k not in ("id", "createdAt")}
    assert same == {k: v for k, v in generic.json().items() if k not in ("id", "createdAt")}


def test_collect_is_the_same_intake_with_the_collect_flow(api: SignedClient) -> None:
    response = api.post("/api/v1/collect", pay_body(amount="5.00", expiresInMinutes=10))
    assert response.status_code == 202 and response.json()["status"] == "REQUESTED"
    payment = api.world.store.payments[uuid.UUID(response.json()["id"])]
    assert (payment.method, payment.flow.value) == ("UPI", "COLLECT")
    again = api.post("/api/v1/collect", pay_body(amount="5.00", expiresInMinutes=10))
    assert again.status_code == 202 and again.headers["idempotent-replayed"] == "true"
    assert again.content == response.content  # the stored answer, byte for byte
