"""Refunds end to end (issue 13): real API processes, worker and UPI sandbox on PostgreSQL and Redis.

- 30 partial refunds of one payment, together more than it, sent at once to two API processes:
  exactly those that fit are accepted (the database's reservation decides), the rest get 400, every
  accepted one succeeds once at the sandbox, and ``flosspay ledger verify`` passes.
- A worker SIGKILLed while the sandbox holds a refund's answer: a new worker asks again under the
  same reference and the sandbox's own record shows the refund exactly once.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from typing import Any

import httpx
import pytest

from flosspay.adapters.cli.signing import signed_headers
from tests.e2e.conftest import Stack
from tests.e2e.processes import FLOSSPAY, Client, free_port, run_cli, wait_for

pytestmark = [pytest.mark.e2e, pytest.mark.postgres, pytest.mark.redis, pytest.mark.slow]

BODY = {"senderUpi": "alice@upi", "receiverUpi": "bob@upi", "amount": "100.00", "note": "e2e refunds"}


def _get(client: Client, path: str) -> dict[str, Any]:
    headers = signed_headers(client_id=client.client_id, secret=client.secret, method="GET", path=path, body=b"")
    response = client.http.get(path, headers=headers)
    assert response.status_code == 200, response.text
    return dict(response.json())


def _sandbox_refunds(stack: Stack, reference: str) -> list[dict[str, Any]]:
    response = httpx.get(f"{stack.sandbox_url}/v1/refunds", params={"reference": reference}, timeout=5)
    return list(response.json()["refunds"])


def _wait_refund(client: Client, refund_id: str, timeout: float = 40) -> dict[str, Any]:
    return dict(
        wait_for(
            lambda: (r := _get(client, f"/api/v1/refunds/{refund_id}"))["status"] in ("SUCCEEDED", "FAILED") and r,
            timeout,
            f"refund {refund_id} to finish",
        )
    )


def _second_api(stack: Stack) -> Client:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    stack.start("api-2", [FLOSSPAY, "api", "--port", str(port)])
    wait_for(lambda: httpx.get(f"{url}/health/ready", timeout=1).status_code == 200, 20, "the second API")
    return Client(url, stack.client.client_id, stack.client.secret)


def test_thirty_concurrent_partial_refunds_at_two_api_processes_never_exceed_the_payment(stack: Stack) -> None:
    payment = stack.client.post("/api/v1/pay", BODY, key="refund-race-pay").json()
    pid = payment["id"]
    assert stack.client.wait_final(pid)["status"] == "COMPLETED"
    apis = [stack.client, _second_api(stack)]
    answers: list[tuple[int, dict[str, Any]]] = []
    lock = threading.Lock()
    barrier = threading.Barrier(30)

    def refund(i: int) -> None:
        client = Client(apis[i % 2].http.base_url.__str__(), stack.client.client_id, stack.client.secret)
        barrier.wait()
        response = client.post(f"/api/v1/transaction/{pid}/refunds", {"amount": "7.00"}, key=f"race-{i}")
        for _ in range(50):  # a 429 is waited out with the same key, as a client would (limits are not under test)
            if response.status_code != 429:
                break
            time.sleep(0.2)
            response = client.post(f"/api/v1/transaction/{pid}/refunds", {"amount": "7.00"}, key=f"race-{i}")
        with lock:
            answers.append((response.status_code, response.json()))

    threads = [threading.Thread(target=refund, args=(i,)) for i in range(30)]
    started = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    elapsed = time.perf_counter() - started
    codes = sorted(code for code, _ in answers)
    accepted = [body for code, body in answers if code == 202]
    refused = [body for code, body in answers if code == 400]
    print(
        f"30 concurrent refunds at 2 API processes: {len(accepted)} accepted, {len(refused)} refused in {elapsed:.2f}s"
    )
    assert len(answers) == 30 and set(codes) <= {202, 400}, codes
    assert len(accepted) == 14  # 14 x 7.00 = 98.00 fits in 100.00; a 15th would not
    assert all(p["errors"][0]["field"] == "amount" and "refundable remainder" in p["detail"] for p in refused)
    for body in accepted:
        assert _wait_refund(stack.client, body["id"])["status"] == "SUCCEEDED"
    status = stack.client.status(pid)
    assert status["refundedAmount"] == "98.00" and len(status["refunds"]) == 14
    at_sandbox = _sandbox_refunds(stack, pid)
    assert sorted(r["refundReference"] for r in at_sandbox) == sorted(b["id"] for b in accepted)
    assert max(r["refundedMinor"] for r in at_sandbox) == 9800
    # The rest can still be refunded, exactly: 2.00 is left.
    last = stack.client.post(f"/api/v1/transaction/{pid}/refunds", {}, key="race-rest")
    assert last.status_code == 202 and last.json()["amount"] == "2.00"
    assert _wait_refund(stack.client, last.json()["id"])["status"] == "SUCCEEDED"
    over = stack.client.post(f"/api/v1/transaction/{pid}/refunds", {}, key="race-over")
    assert over.status_code == 400
    verified = run_cli(["ledger", "verify"], stack.env)
    for _ in range(20):  # the chainer links what was just committed within a pass or two
        if verified.returncode == 0:
            break
        time.sleep(0.5)
        verified = run_cli(["ledger", "verify"], stack.env)
    assert verified.returncode == 0, verified.stdout + verified.stderr
    # And offline, from an export, by the stdlib-only verifier: refunds ≤ paid is its rule too.
    exported = run_cli(["ledger", "export", str(stack.log_dir / "ledger.jsonl")], stack.env)
    assert exported.returncode == 0, exported.stderr
    offline = subprocess.run(
        [sys.executable, "-m", "flosspay.ledger_verify", str(stack.log_dir / "ledger.jsonl")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert offline.returncode == 0, offline.stdout + offline.stderr


def test_worker_killed_mid_refund_refunds_exactly_once(stack: Stack) -> None:
    """SIGKILL the worker while the sandbox holds the refund's answer; a new worker asks again, once."""
    payment = stack.client.post("/api/v1/pay", {**BODY, "senderUpi": "slow.alice@upi"}, key="kill-refund-pay").json()
    pid = payment["id"]
    assert stack.client.wait_final(pid, timeout=40)["status"] == "COMPLETED"
    accepted = stack.client.post(f"/api/v1/transaction/{pid}/refunds", {"amount": "40.00"}, key="kill-refund")
    assert accepted.status_code == 202, accepted.text
    rid = accepted.json()["id"]
    wait_for(lambda: _sandbox_refunds(stack, pid), 15, "the sandbox to record the refund (its answer is held)")
    assert _get(stack.client, f"/api/v1/refunds/{rid}")["status"] == "PROCESSING"
    worker = next(p for p in stack.procs if p.name == "worker")
    worker.kill()
    time.sleep(1)
    stack.start_worker("worker-2")
    final = _wait_refund(stack.client, rid, timeout=60)
    assert final["status"] == "SUCCEEDED", final
    assert [r["refundReference"] for r in _sandbox_refunds(stack, pid)] == [rid]  # exactly once at the PSP
    shown = run_cli(["refunds", "show", rid, "--json"], stack.env)
    assert shown.returncode == 0, shown.stderr
    attempts = [(a["action"], a["outcome"]) for a in json.loads(shown.stdout)["attemptLog"]]
    assert attempts[0] == ("refund", "STARTED")  # the killed worker never recorded an answer
    assert attempts[-1] == ("refund-again", "COMPLETED")  # the same reference, answered by the PSP's record
    assert stack.client.status(pid)["refundedAmount"] == "40.00"
