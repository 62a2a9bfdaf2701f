"""End to end: API, worker and sandbox PSP as real processes over loopback, on PostgreSQL and Redis."""

from __future__ import annotations

import time

import pytest

from tests.e2e.conftest import Stack
from tests.e2e.processes import wait_for

pytestmark = [pytest.mark.e2e, pytest.mark.postgres, pytest.mark.redis, pytest.mark.slow]

BODY = {"senderUpi": "alice@upi", "receiverUpi": "bob@upi", "amount": "28.00", "note": "e2e"}


def test_pay_is_accepted_processed_and_completed_exactly_once(stack: Stack) -> None:
    accepted = stack.client.post("/api/v1/pay", BODY, key="order-1")
    assert accepted.status_code == 200, accepted.text
    payment = accepted.json()
    assert payment["status"] == "QUEUED" and payment["amount"] == "28.00"
    replay = stack.client.post("/api/v1/pay", BODY, key="order-1")
    assert replay.status_code == 200 and replay.headers["Idempotent-Replayed"] == "true"
    assert replay.json() == payment
    final = stack.client.wait_final(payment["id"])
    assert final["status"] == "COMPLETED", final
    assert [(h["from"], h["to"]) for h in final["history"]] == [
        (None, "QUEUED"),
        ("QUEUED", "PROCESSING"),
        ("PROCESSING", "COMPLETED"),
    ]
    assert final["attempts"][0]["code"] == "00"
    assert len(stack.debits(payment["id"])) == 1


def test_decline_fails_with_npci_code(stack: Stack) -> None:
    body = {**BODY, "senderUpi": "insufficient.alice@upi"}
    payment = stack.client.post("/api/v1/pay", body, key="order-2").json()
    final = stack.client.wait_final(payment["id"])
    assert (final["status"], final["failureCode"]) == ("FAILED", "Z9")
    assert stack.debits(payment["id"]) == []


def test_flaky_psp_is_retried_until_it_succeeds(stack: Stack) -> None:
    payment = stack.client.post("/api/v1/pay", {**BODY, "senderUpi": "flaky.alice@upi"}, key="order-3").json()
    final = stack.client.wait_final(payment["id"])
    assert final["status"] == "COMPLETED"
    assert [a["outcome"] for a in final["attempts"]] == ["TRANSIENT", "TRANSIENT", "COMPLETED"]
    assert len(stack.debits(payment["id"])) == 1


def test_collect_request_is_approved(stack: Stack) -> None:
    body = {**BODY, "expiresInMinutes": 5}
    accepted = stack.client.post("/api/v1/collect", body, key="collect-1")
    assert accepted.status_code == 202 and accepted.json()["status"] == "REQUESTED"
    final = stack.client.wait_final(accepted.json()["id"])
    assert final["status"] == "COMPLETED"
    assert [h["to"] for h in final["history"]] == ["REQUESTED", "PROCESSING", "COMPLETED"]


def test_collect_declined_by_payer(stack: Stack) -> None:
    accepted = stack.client.post("/api/v1/collect", {**BODY, "senderUpi": "decline.alice@upi"}, key="collect-2")
    final = stack.client.wait_final(accepted.json()["id"])
    assert (final["status"], final["failureCode"]) == ("DECLINED", "ZA")


def test_worker_killed_mid_payment_completes_exactly_once(stack: Stack) -> None:
    """SIGKILL the worker while the rail call is in flight; a new worker finishes it without paying twice."""
    payment = stack.client.post("/api/v1/pay", {**BODY, "senderUpi": "slow.alice@upi"}, key="order-crash").json()
    pid = payment["id"]
    wait_for(lambda: stack.debits(pid), 15, "the sandbox to record the debit (the rail call is in flight)")
    worker = stack.procs[-1]
    assert stack.client.status(pid)["status"] == "PROCESSING"
    worker.kill()
    time.sleep(1)
    stack.start_worker("worker-2")
    final = stack.client.wait_final(pid, timeout=40)
    assert final["status"] == "COMPLETED", final
    assert len(stack.debits(pid)) == 1
    actions = [(a["action"], a["outcome"]) for a in final["attempts"]]
    assert actions[0] == ("execute", "STARTED")  # the killed worker never recorded an answer
    assert actions[-1] == ("status", "COMPLETED")  # the new worker asked before paying again


def test_payments_accepted_while_no_worker_runs_are_processed_later(stack: Stack) -> None:
    """The API needs no worker or broker to accept: with every worker gone, payments wait in the outbox."""
    worker = stack.procs[-1]
    worker.stop()
    ids = [stack.client.post("/api/v1/pay", BODY, key=f"offline-{i}").json()["id"] for i in range(5)]
    time.sleep(0.5)
    assert {stack.client.status(i)["status"] for i in ids} == {"QUEUED"}
    stack.start_worker("worker-again")
    for pid in ids:
        assert stack.client.wait_final(pid)["status"] == "COMPLETED"
        assert len(stack.debits(pid)) == 1
