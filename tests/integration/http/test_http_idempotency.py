"""Idempotent POSTs over HTTP: replays, conflicts, requests in flight, and corrected retries."""

from __future__ import annotations

from typing import Any

import pytest
from http_api_support import OTHER_CLIENT_ID, OTHER_CLIENT_SECRET, SignedClient, World, assert_problem, pay_body
from litestar.testing import TestClient

from flosspay.domain.errors import IdempotencyInProgress
from tests.fakes import FakeUnitOfWork, FakeUnitOfWorkFactory

pytestmark = pytest.mark.integration

PAY = "/api/v1/pay"
COLLECT = "/api/v1/collect"
PAYMENTS = "/api/v1/payments"


@pytest.mark.parametrize(
    ("path", "payload", "status"),
    [
        (PAY, pay_body(), 200),
        (COLLECT, pay_body(expiresInMinutes=15), 202),
        (PAYMENTS, {"method": "WALLET", "amount": "5.00", "walletId": "w-9"}, 200),
    ],
)
def test_replay_returns_the_identical_answer_and_creates_nothing(
    api: SignedClient, path: str, payload: dict[str, Any], status: int
) -> None:
    first = api.post(path, payload, key="order-42")
    assert first.status_code == status, first.text
    assert "Idempotent-Replayed" not in first.headers
    api.world.clock.advance(60)  # a later retry still replays the stored answer

    second = api.post(path, payload, key="order-42")

    assert second.status_code == status
    assert second.headers["Idempotent-Replayed"] == "true"
    assert second.content == first.content
    assert len(api.world.store.payments) == 1
    assert len(api.world.store.outbox) == 1


def test_same_request_written_differently_is_still_a_replay(api: SignedClient) -> None:
    first = api.post(PAY, raw=b'{"senderUpi":"alice@okbank","receiverUpi":"shop@okaxis","amount":28.0}', key="k")
    again = api.post(PAY, raw=b'{ "amount" : 28.00, "receiverUpi":"shop@okaxis", "senderUpi":"alice@okbank" }', key="k")
    assert first.status_code == again.status_code == 200
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.content == first.content
    assert len(api.world.store.payments) == 1


def test_different_body_with_the_same_key_is_a_conflict(api: SignedClient) -> None:
    assert api.post(PAY, pay_body(amount="28.00"), key="k").status_code == 200
    problem = assert_problem(api.post(PAY, pay_body(amount="29.00"), key="k"), 409)
    assert problem["type"] == "urn:flosspay:problem:idempotency-key-reused"
    assert "different request" in problem["detail"]
    assert len(api.world.store.payments) == 1


def test_same_key_on_another_endpoint_is_a_conflict(api: SignedClient) -> None:
    assert api.post(PAY, pay_body(), key="k").status_code == 200
    assert_problem(api.post(COLLECT, pay_body(), key="k"), 409)


def test_keys_belong_to_one_client(api: SignedClient) -> None:
    mine = api.post(PAY, pay_body(), key="shared")
    theirs = api.post(PAY, pay_body(), key="shared", client_id=OTHER_CLIENT_ID, secret=OTHER_CLIENT_SECRET)
    assert mine.status_code == theirs.status_code == 200
    assert "Idempotent-Replayed" not in theirs.headers
    assert mine.json()["id"] != theirs.json()["id"]
    assert len(api.world.store.payments) == 2


def test_a_new_key_makes_a_new_payment(api: SignedClient) -> None:
    first = api.post(PAY, pay_body(), key="k1").json()
    second = api.post(PAY, pay_body(), key="k2").json()
    assert first["id"] != second["id"]


def test_validation_rejected_request_can_be_retried_corrected_with_the_same_key(api: SignedClient) -> None:
    assert_problem(api.post(PAY, pay_body(amount="0"), key="fix-me"), 400)
    assert_problem(api.post(PAY, pay_body(), key="fix-me", content_type="text/plain"), 415)
    assert_problem(api.post(PAY, raw=b"{", key="fix-me"), 400)

    corrected = api.post(PAY, pay_body(amount="1.00"), key="fix-me")

    assert corrected.status_code == 200, corrected.text
    assert "Idempotent-Replayed" not in corrected.headers
    assert corrected.json()["amount"] == "1.00"


class _BusyIdempotency:
    def claim(self, record: object, now: object) -> bool:
        raise IdempotencyInProgress("a request with this Idempotency-Key is in progress; retry shortly")


class _BusyUnitOfWork(FakeUnitOfWork):
    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        self.idempotency = _BusyIdempotency()  # type: ignore[assignment]


def test_request_in_progress_is_a_retryable_conflict() -> None:
    factory = FakeUnitOfWorkFactory()
    world = World(uow_factory=lambda: _BusyUnitOfWork(factory.store))
    with TestClient(world.app()) as http:
        api = SignedClient(http, world)
        response = api.post(PAY, pay_body(), key="busy")
    problem = assert_problem(response, 409)
    assert problem["type"] == "urn:flosspay:problem:request-in-progress"
    assert response.headers["Retry-After"] == "1"
    assert factory.store.payments == {}
