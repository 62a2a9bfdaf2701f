"""Fault case 2: SIGKILL the API process mid-request; clients retry with the same Idempotency-Key.

Each key ends as exactly one payment, however many times its request was cut off and sent again.
"""

from __future__ import annotations

import threading
import time

import pytest

from tests.e2e.processes import free_port
from tests.faults.conftest import FaultStack, assert_settled, payment_requests, post_all, record

pytestmark = [pytest.mark.faults, pytest.mark.postgres, pytest.mark.redis, pytest.mark.slow]

KILLS = 2
PAYMENTS = 120


def test_killed_api_requests_retried_with_their_key_make_one_payment_each(stack: FaultStack) -> None:
    port = free_port()
    api, _ = stack.start_api("api-0", port)
    stack.start_worker()
    warm = stack.warm_up()
    client = stack.client()
    seen: dict[str, int] = {}
    accepted: dict[str, str] = {}
    requests = payment_requests(PAYMENTS, "apikill")
    poster = threading.Thread(
        target=lambda: accepted.update(post_all([client], requests, threads=4, seen=seen, pace=0.1))
    )
    poster.start()
    for kill in range(1, KILLS + 1):
        time.sleep(1.0)
        api.kill()  # requests in flight are cut off
        api, _ = stack.start_api(f"api-{kill}", port)
    poster.join(120)
    assert len(accepted) == PAYMENTS
    ids = set(accepted.values())
    assert len(ids) == PAYMENTS, "a retried key made a second payment"
    stack.wait_all_final(ids, 60)
    figures = assert_settled(stack, {warm, *ids})
    assert figures["payments"] == PAYMENTS + 1
    assert seen.get("connection", 0) > 0, "the kills must cut requests off"
    record("2-api-sigkill", **figures, kills=KILLS, answers=dict(sorted(seen.items())))
