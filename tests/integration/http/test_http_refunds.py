"""The refund endpoints end to end over in-memory fakes: answers, status codes, replay, the status view."""

from __future__ import annotations

import uuid

import pytest
from http_api_support import (
    OTHER_CLIENT_ID,
    OTHER_CLIENT_SECRET,
    SignedClient,
    World,
    assert_problem,
    field_errors,
    pay_body,
)

from flosspay.application.policies import ProcessingPolicy
from flosspay.application.process_refund import process_refund
from flosspay.domain.rail import Outcome, RefundResult

pytestmark = pytest.mark.integration

PAY = "/api/v1/pay"


def _refunds(payment_id: str) -> str:
    return f"/api/v1/transaction/{payment_id}/refunds"


def _paid(api: SignedClient, world: World, amount: str = "100.00", complete: bool = True) -> str:
    response = api.post(PAY, pay_body(amount=amount), key=f"pay-{uuid.uuid4().hex}")
    assert response.status_code == 200, response.text
    payment_id = str(response.json()["id"])
    if complete:
        world.process(payment_id)
    return payment_id


def _process(world: World, refund_id: str) -> None:
    process_refund(
        uuid.UUID(refund_id),
        worker="t",
        uow_factory=world.uow_factory,
        rails=world.rails,
        clock=world.clock,
        policy=ProcessingPolicy(),
    )


def test_a_partial_refund_is_accepted_then_shown_and_counted_on_the_payment(api: SignedClient, world: World) -> None:
    pid = _paid(api, world)
    response = api.post(_refunds(pid), {"amount": "40.00", "reason": "damaged"}, key="ref-1")
    assert response.status_code == 202, response.text
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert set(body) == {"id", "paymentId", "amount", "currency", "status", "reason", "createdAt"}
    assert (body["paymentId"], body["amount"], body["currency"], body["status"], body["reason"]) == (
        pid,
        "40.00",
        "INR",
        "PENDING",
        "damaged",
    )
    status = api.get(f"/api/v1/transaction/{pid}/status").json()
    assert status["refundedAmount"] == "0.00"  # pending: reserved, not yet refunded
    assert status["refunds"] == [{"id": body["id"], "amount": "40.00", "status": "PENDING"}]
    _process(world, body["id"])
    shown = api.get(f"/api/v1/refunds/{body['id']}")
    assert shown.status_code == 200
    detail = shown.json()
    assert detail["status"] == "SUCCEEDED" and detail["ledgerEntryId"]
    assert [h["to"] for h in detail["history"]] == ["PENDING", "PROCESSING", "SUCCEEDED"]
    status = api.get(f"/api/v1/transaction/{pid}/status").json()
    assert status["refundedAmount"] == "40.00"
    assert status["refunds"] == [{"id": body["id"], "amount": "40.00", "status": "SUCCEEDED"}]


def test_a_payment_without_refunds_shows_zero_and_an_empty_list(api: SignedClient, world: World) -> None:
    pid = _paid(api, world)
    status = api.get(f"/api/v1/transaction/{pid}/status").json()
    assert status["refundedAmount"] == "0.00" and status["refunds"] == []


def test_the_default_amount_is_the_remainder_and_a_replay_is_byte_for_byte(api: SignedClient, world: World) -> None:
    pid = _paid(api, world)
    assert api.post(_refunds(pid), {"amount": "30"}, key="a").status_code == 202
    first = api.post(_refunds(pid), {}, key="b")
    assert first.status_code == 202 and first.json()["amount"] == "70.00"
    again = api.post(_refunds(pid), {}, key="b")
    assert again.status_code == 202 and again.headers["Idempotent-Replayed"] == "true"
    assert again.content == first.content
    assert len(world.store.refunds) == 2
    problem = assert_problem(api.post(_refunds(pid), {"amount": "1"}, key="b"), 409)
    assert problem["type"].endswith("idempotency-key-reused")


@pytest.mark.parametrize(
    ("payload", "field", "message"),
    [
        ({"amount": "0"}, "amount", "greater than zero"),
        ({"amount": -1}, "amount", "greater than zero"),
        ({"amount": "1.001"}, "amount", "at most 2 decimal places"),
        ({"amount": "100.01"}, "amount", "refundable remainder (100.00)"),
        ({"reason": "x" * 256}, "reason", "at most 255"),
        ({"currency": "USD"}, "currency", "not a known field"),
    ],
)
def test_bad_refunds_are_400_and_store_nothing(
    api: SignedClient, world: World, payload: dict[str, object], field: str, message: str
) -> None:
    pid = _paid(api, world)
    problem = assert_problem(api.post(_refunds(pid), payload, key="bad"), 400)
    assert message in field_errors(problem).get(field, ""), problem
    assert not world.store.refunds and world.store.reserved.get(uuid.UUID(pid), 0) == 0


def test_refunding_more_than_is_left_is_400(api: SignedClient, world: World) -> None:
    pid = _paid(api, world)
    assert api.post(_refunds(pid), {"amount": "99.99"}, key="a").status_code == 202
    problem = assert_problem(api.post(_refunds(pid), {"amount": "0.02"}, key="b"), 400)
    assert field_errors(problem) == {"amount": "is more than the refundable remainder (0.01)"}


def test_a_payment_not_completed_is_409_naming_its_status(api: SignedClient, world: World) -> None:
    pid = _paid(api, world, complete=False)
    problem = assert_problem(api.post(_refunds(pid), {}, key="a"), 409)
    assert problem["type"] == "urn:flosspay:problem:not-refundable" and "QUEUED" in problem["detail"]


def test_another_clients_payment_or_refund_is_404(api: SignedClient, world: World) -> None:
    pid = _paid(api, world)
    other = {"client_id": OTHER_CLIENT_ID, "secret": OTHER_CLIENT_SECRET}
    assert_problem(api.post(_refunds(pid), {}, key="a", **other), 404)
    assert_problem(api.post(_refunds("not-a-uuid"), {}, key="a"), 404)
    assert_problem(api.post(_refunds(str(uuid.uuid4())), {}, key="a"), 404)
    refund_id = api.post(_refunds(pid), {}, key="mine").json()["id"]
    assert api.get(f"/api/v1/refunds/{refund_id}").status_code == 200
    assert_problem(api.get(f"/api/v1/refunds/{refund_id}", **other), 404)
    assert_problem(api.get("/api/v1/refunds/nope"), 404)


def test_a_failed_refund_shows_its_reason_and_frees_the_amount(api: SignedClient, world: World) -> None:
    pid = _paid(api, world)
    rail = world.rails.get("upi")
    rail.refund_script = [RefundResult(Outcome.DECLINED, "U30", "bank refused")]  # type: ignore[union-attr]
    refund_id = api.post(_refunds(pid), {}, key="a").json()["id"]
    _process(world, refund_id)
    detail = api.get(f"/api/v1/refunds/{refund_id}").json()
    assert (detail["status"], detail["failureCode"], detail["failureReason"]) == ("FAILED", "U30", "bank refused")
    assert "ledgerEntryId" not in detail
    assert api.post(_refunds(pid), {}, key="b").json()["amount"] == "100.00"


def test_the_key_is_required_and_the_body_must_be_json(api: SignedClient, world: World) -> None:
    pid = _paid(api, world)
    assert "Idempotency-Key" in field_errors(assert_problem(api.post(_refunds(pid), {}, key=None), 400))
    assert_problem(api.post(_refunds(pid), raw=b"{}", content_type="text/plain", key="k"), 415)
    assert_problem(api.post(_refunds(pid), raw=b"[1]", key="k"), 400)
