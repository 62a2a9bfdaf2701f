"""The payment endpoints end to end over in-memory fakes: answers, status, and failures of the world."""

from __future__ import annotations

import logging
import uuid

import pytest
from http_api_support import (
    CLIENT_ID,
    OTHER_CLIENT_ID,
    OTHER_CLIENT_SECRET,
    SignedClient,
    World,
    assert_no_leak,
    assert_problem,
    pay_body,
)
from litestar.testing import TestClient

from flosspay.domain.errors import ServiceUnavailable
from flosspay.domain.payment import PaymentStatus

pytestmark = pytest.mark.integration

PAY = "/api/v1/pay"
COLLECT = "/api/v1/collect"
PAYMENTS = "/api/v1/payments"


def _status_path(payment_id: str) -> str:
    return f"/api/v1/transaction/{payment_id}/status"


def test_pay_is_accepted_and_queued(api: SignedClient) -> None:
    response = api.post(PAY, pay_body(amount=28.5, note="lunch"))
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert body["status"] == "QUEUED"
    assert body["amount"] == "28.50"
    assert body["currency"] == "INR"
    assert body["method"] == "UPI"
    stored = api.world.store.payments[uuid.UUID(body["id"])]
    assert stored.client_id == CLIENT_ID
    assert stored.amount.minor == 2850
    assert stored.note == "lunch"
    assert stored.details == {"senderUpi": "alice@okbank", "receiverUpi": "shop@okaxis"}
    assert [m.payment_id for m in api.world.store.outbox] == [stored.id]


def test_amount_as_json_number_is_exact(api: SignedClient) -> None:
    raw = b'{"senderUpi":"alice@okbank","receiverUpi":"shop@okaxis","amount":1234567890123.99}'
    body = api.post(PAY, raw=raw).json()
    assert body["amount"] == "1234567890123.99"
    assert api.world.store.payments[uuid.UUID(body["id"])].amount.minor == 123456789012399


def test_collect_is_accepted_with_its_expiry(api: SignedClient) -> None:
    response = api.post(COLLECT, pay_body(expiresInMinutes=90))
    assert response.status_code == 202
    body = response.json()
    assert body["status"] == "REQUESTED"
    assert body["expiresAt"] == "2026-01-01T13:30:00Z"


def test_collect_without_expiry_uses_the_default(api: SignedClient) -> None:
    body = api.post(COLLECT, pay_body()).json()
    assert body["expiresAt"] == "2026-01-01T12:30:00Z"


def test_generic_payment_with_another_rail(api: SignedClient) -> None:
    response = api.post(PAYMENTS, {"method": "WALLET", "amount": "99.99", "currency": "INR", "walletId": "w-1"})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["method"] == "WALLET"
    assert body["provider"] == "paytm"  # the rail's public fields are shown
    stored = api.world.store.payments[uuid.UUID(body["id"])]
    assert stored.rail == "wallet"
    assert stored.details == {"walletId": "w-1"}


def test_generic_payment_with_upi(api: SignedClient) -> None:
    response = api.post(PAYMENTS, {"method": "UPI", "amount": 5, **pay_body(amount=...)})
    assert response.status_code == 200, response.text
    assert response.json()["amount"] == "5.00"


def test_status_shows_the_payment_and_its_history(api: SignedClient) -> None:
    payment_id = api.post(PAY, pay_body()).json()["id"]
    api.world.clock.advance(5)
    api.world.process(payment_id)

    response = api.get(_status_path(payment_id))

    assert response.status_code == 200
    body = response.json()
    assert body["id"] == payment_id
    assert body["status"] == PaymentStatus.COMPLETED
    assert [(h["from"], h["to"]) for h in body["history"]] == [
        (None, "QUEUED"),
        ("QUEUED", "PROCESSING"),
        ("PROCESSING", "COMPLETED"),
    ]
    assert body["attempts"][0]["outcome"] == "COMPLETED"
    assert_no_leak(response)


def test_status_right_after_acceptance(api: SignedClient) -> None:
    payment_id = api.post(COLLECT, pay_body()).json()["id"]
    body = api.get(_status_path(payment_id)).json()
    assert body["status"] == "REQUESTED"
    assert body["flow"] == "COLLECT"
    assert len(body["history"]) == 1


@pytest.mark.parametrize("payment_id", [str(uuid.UUID(int=7)), "not-a-uuid", "1", "%20", "..", "' OR 1=1 --"])
def test_status_of_unknown_or_malformed_ids_is_404(api: SignedClient, payment_id: str) -> None:
    problem = assert_problem(api.get(_status_path(payment_id)), 404)
    assert problem["type"] == "urn:flosspay:problem:not-found"


def test_status_of_another_clients_payment_is_404(api: SignedClient) -> None:
    theirs = api.post(PAY, pay_body(), client_id=OTHER_CLIENT_ID, secret=OTHER_CLIENT_SECRET).json()["id"]
    assert api.get(_status_path(theirs), client_id=OTHER_CLIENT_ID, secret=OTHER_CLIENT_SECRET).status_code == 200
    mine = api.get(_status_path(theirs))
    unknown = api.get(_status_path(str(uuid.UUID(int=1))))
    assert_problem(mine, 404)
    assert mine.json()["title"] == unknown.json()["title"]  # indistinguishable from unknown


def test_unknown_route_and_wrong_method(api: SignedClient) -> None:
    assert_problem(api.http.get("/api/v1/nothing-here"), 404)
    assert_problem(api.http.get("/nothing"), 404)
    not_allowed = assert_problem(api.http.delete(PAY), 405)
    assert not_allowed["title"] == "Method Not Allowed"


def _unavailable() -> object:
    raise ServiceUnavailable("database unreachable at 10.0.0.5:5432 (password=hunter2)")


def test_database_down_is_503_without_internals() -> None:
    world = World(uow_factory=_unavailable)
    with TestClient(world.app()) as http:
        api = SignedClient(http, world)
        for response in (api.post(PAY, pay_body()), api.get(_status_path(str(uuid.UUID(int=3))))):
            problem = assert_problem(response, 503)
            assert problem["type"] == "urn:flosspay:problem:service-unavailable"
            assert response.headers["Retry-After"]


def _explode() -> object:
    raise RuntimeError("boom: secret internals at /srv/flosspay/db.py line 42")


def test_unexpected_error_is_a_bare_500_and_is_logged(caplog: pytest.LogCaptureFixture) -> None:
    world = World(uow_factory=_explode)
    with TestClient(world.app()) as http, caplog.at_level(logging.ERROR, logger="flosspay.http"):
        response = SignedClient(http, world).post(PAY, pay_body())
    problem = assert_problem(response, 500)
    assert "boom" not in response.text
    assert "internals" not in response.text
    assert problem["detail"] == "an unexpected error occurred; it has been logged"
    assert any(record.exc_info and "boom" in str(record.exc_info[1]) for record in caplog.records)


def test_no_response_ever_contains_a_secret(api: SignedClient) -> None:
    responses = [
        api.post(PAY, pay_body()),
        api.post(PAY, pay_body(amount="x")),
        api.post(PAYMENTS, {"method": "WALLET", "amount": "1.00", "walletId": "w"}),
        api.get(_status_path("nope")),
        api.http.get("/schema/openapi.json"),
        api.http.get("/swagger-ui.html"),
    ]
    for response in responses:
        assert_no_leak(response)
