"""Fault case 6: two API processes and three workers under sustained load from concurrent clients,
some of them sending the same Idempotency-Key at once."""

from __future__ import annotations

import time

import pytest

from tests.faults.conftest import FaultStack, assert_settled, payment_requests, post_all, record

pytestmark = [pytest.mark.faults, pytest.mark.postgres, pytest.mark.redis, pytest.mark.slow]

PAYMENTS = 160
REUSED_EVERY = 4  # every fourth request is also sent again, concurrently, with the same key


def test_two_apis_three_workers_concurrent_clients_reusing_keys(stack: FaultStack) -> None:
    stack.start_api("api-a")
    stack.start_api("api-b")
    for name in ("worker-a", "worker-b", "worker-c"):
        stack.start_worker(name, threads=3)
    clients = [stack.client(url) for url in stack.api_urls]
    requests = payment_requests(PAYMENTS, "load")
    doubled = requests + requests[::REUSED_EVERY]
    seen: dict[str, int] = {}
    started = time.monotonic()
    accepted = post_all(clients, doubled, threads=8, seen=seen)
    intake_s = time.monotonic() - started
    ids = set(accepted.values())
    assert len(ids) == PAYMENTS, "one key must make one payment"
    stack.wait_all_final(ids, 90)
    total_s = time.monotonic() - started
    figures = assert_settled(stack, ids)
    assert figures["payments"] == PAYMENTS
    record(
        "6-sustained-load",
        **figures,
        requests=len(doubled),
        answers=dict(sorted(seen.items())),
        intake_s=round(intake_s, 1),
        all_final_s=round(total_s, 1),
    )
