"""A real ``flosspay worker`` SIGKILLed while a webhook is in flight: a new worker delivers it again.

At least once, with the same webhook-id and body: the receiver holds the first request open (never
answers it) until the worker's process group has been SIGKILLed; the dead worker's claim expires after
the delivery lease (here 3 s timeout x (1 wave + 1) + 1 s = 7 s, see ``WebhookPolicy.lease``), and the
second worker sends the event again, signed so the official ``standardwebhooks`` package verifies it.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import standardwebhooks

from flosspay.adapters.cli.signing import signed_headers
from tests.e2e.conftest import Stack
from tests.e2e.processes import FLOSSPAY, Proc, wait_for
from tests.integration.webhooks.receiver import Receiver

pytestmark = [pytest.mark.e2e, pytest.mark.postgres, pytest.mark.redis, pytest.mark.slow]

BODY = {"senderUpi": "alice@upi", "receiverUpi": "bob@upi", "amount": "28.00", "note": "webhook kill"}
TIMEOUT_SECONDS = 3  # the send timeout: the lease is 3 x 2 + 1 = 7 s with one delivery per batch


@pytest.fixture
def stack_env() -> dict[str, str]:
    return {
        "FLOSSPAY_WEBHOOK_ALLOW_PRIVATE_URLS": "true",
        "FLOSSPAY_WEBHOOK_TIMEOUT_SECONDS": str(TIMEOUT_SECONDS),
        "FLOSSPAY_WEBHOOK_BATCH": "1",
        "FLOSSPAY_WEBHOOK_CONCURRENCY": "1",
        "FLOSSPAY_WEBHOOK_RETRY_SCHEDULE": "1s,1s,1s",
        "FLOSSPAY_WEBHOOK_POLL_SECONDS": "0.2",
    }


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver().start()
    yield r
    r.stop()


class GroupProc(Proc):
    """A child process leading its own process group, so the whole group can be SIGKILLed."""

    def __init__(self, name: str, args: list[str], env: dict[str, str], log_dir: Path) -> None:
        self.name = name
        self.log = log_dir / f"{name}.log"
        self._out = self.log.open("wb")
        self.popen = subprocess.Popen(args, env=env, stdout=self._out, stderr=subprocess.STDOUT, start_new_session=True)

    def kill_group(self) -> None:
        os.killpg(self.popen.pid, signal.SIGKILL)
        self.popen.wait(10)


def _start_worker(stack: Stack, name: str) -> GroupProc:
    proc = GroupProc(name, [FLOSSPAY, "worker", "--threads", "2"], stack.env, stack.log_dir)
    stack.procs.append(proc)
    return proc


def _get(stack: Stack, path: str) -> Any:
    client = stack.client
    headers = signed_headers(client_id=client.client_id, secret=client.secret, method="GET", path=path, body=b"")
    response = client.http.get(path, headers=headers)
    assert response.status_code == 200, response.text
    return response.json()


def test_worker_sigkilled_mid_webhook_redelivers_the_same_event(stack: Stack, receiver: Receiver) -> None:
    # The fixture's worker is replaced by one in its own process group (stopped cleanly first).
    stack.procs[-1].stop()
    worker = _start_worker(stack, "worker-1")
    receiver.mode = "hang"  # the first request is held open, never answered to the live worker

    created = stack.client.post("/api/v1/webhook-endpoints", {"url": receiver.url}, key="endpoint-1")
    assert created.status_code == 201, created.text
    secret = created.json()["secret"]
    accepted = stack.client.post("/api/v1/pay", BODY, key="order-webhook-kill")
    assert accepted.status_code == 200, accepted.text
    payment_id = accepted.json()["id"]

    (held,) = receiver.wait_for(1, timeout=30)  # the worker has the delivery claimed and in flight
    worker.kill_group()
    killed_at = time.monotonic()
    assert worker.popen.returncode == -signal.SIGKILL
    receiver.mode = "ok"  # from now on every request is answered 200
    receiver.release.set()  # end the held handler (its connection died with the worker)
    assert len(receiver.deliveries) == 1

    _start_worker(stack, "worker-2")
    got = receiver.wait_for(2, timeout=30)
    redelivered_after = time.monotonic() - killed_at
    assert len(got) >= 2, stack.logs()
    again = got[1]
    assert {d.headers["webhook-id"] for d in got} == {held.headers["webhook-id"]}
    assert again.body == held.body  # the same event, byte for byte (a new timestamp and signature)
    hook = standardwebhooks.Webhook(secret)
    event = hook.verify(again.body, again.headers)
    assert event["type"] == "payment.completed" and event["data"]["id"] == payment_id
    assert hook.verify(held.body, held.headers) == event  # the held first attempt was signed too

    path = f"/api/v1/webhook-events?paymentId={payment_id}"
    log = wait_for(
        lambda: (events := _get(stack, path)) and events[0]["deliveries"][0]["status"] == "DELIVERED" and events,
        15,
        "the delivery log to show the event delivered",
    )
    assert [e["id"] for e in log] == [held.headers["webhook-id"]], log  # no other event
    assert [d["status"] for d in log[0]["deliveries"]] == ["DELIVERED"]
    attempts = _get(stack, f"/api/v1/webhook-events/{held.headers['webhook-id']}/attempts")
    assert attempts and attempts[-1]["responseStatus"] == 200, attempts
    # The second worker could only take the delivery over once the dead worker's lease ran out.
    print(f"kill -> redelivery: {redelivered_after:.2f} s; attempts recorded: {len(attempts)}")
    assert redelivered_after < 25
