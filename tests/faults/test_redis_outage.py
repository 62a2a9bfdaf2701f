"""Fault case 3: stop (a private) Redis for 10 s under load.

The API keeps accepting (the outbox holds the work), ``/health/ready`` says 503 meanwhile, the
worker says so in one line (no CRITICAL line every 3 s), and every payment completes after Redis
returns, although the restarted Redis has lost every message it held.
"""

from __future__ import annotations

import threading
import time

import httpx
import pytest

from tests.faults.conftest import FaultStack, assert_settled, payment_requests, record

pytestmark = [pytest.mark.faults, pytest.mark.postgres, pytest.mark.redis, pytest.mark.slow]

OUTAGE_S = 10.0
PAYMENTS = 150


def test_payments_are_accepted_during_a_redis_outage_and_complete_after(stack: FaultStack) -> None:
    _, api_url = stack.start_api()
    worker = stack.start_worker()
    client = stack.client()
    accepted: dict[str, str] = {}
    during: list[int] = []
    outage = threading.Event()

    def post() -> None:
        for path, body, key in payment_requests(PAYMENTS, "redis"):
            response = client.post(path, body, key=key)
            assert response.status_code == 200, response.text  # never refused for want of a broker
            accepted[key] = str(response.json()["id"])
            if outage.is_set():
                during.append(response.status_code)
            time.sleep(0.08)

    poster = threading.Thread(target=post)
    poster.start()
    time.sleep(2)
    stack.redis.stop()
    outage.set()
    down_at = time.monotonic()
    readiness: list[int] = []
    while time.monotonic() - down_at < OUTAGE_S:
        readiness.append(httpx.get(f"{api_url}/health/ready", timeout=5).status_code)
        time.sleep(0.5)
    stack.redis.start()
    outage.clear()
    back_at = time.monotonic()
    poster.join(120)
    assert len(accepted) == PAYMENTS
    assert readiness and set(readiness) == {503}, readiness
    ids = set(accepted.values())
    stack.wait_all_final(ids, 60)
    recovered = time.monotonic() - back_at
    log = worker.output()
    assert "CRITICAL" not in log, log[-2000:]
    assert log.count("unreachable") <= 2, log[-2000:]
    figures = assert_settled(stack, ids)
    record(
        "3-redis-outage",
        **figures,
        outage_s=OUTAGE_S,
        accepted_during_outage=len(during),
        readiness_503_probes=len(readiness),
        final_after_redis_back_s=round(recovered, 1),
        worker_outage_lines=log.count("unreachable"),
    )
