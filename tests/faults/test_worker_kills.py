"""Fault case 1: SIGKILL a worker at random points while 200 payments flow, restart it each time.

Whatever the dead worker's broker consumer held (prefetched messages, delayed retries), FlossPay's
own recovery (leases, retry deadlines and the relay's stalled sweep) brings every payment to a
final status within lease + backoff + 15 s of the last kill.
"""

from __future__ import annotations

import random
import threading
import time

import pytest

from tests.faults.conftest import (
    RECOVERY_BUDGET_S,
    FaultStack,
    assert_settled,
    payment_requests,
    post_all,
    record,
)

pytestmark = [pytest.mark.faults, pytest.mark.postgres, pytest.mark.redis, pytest.mark.slow]

KILLS = 6
PAYMENTS = 200


def test_every_payment_is_final_soon_after_the_last_worker_kill(stack: FaultStack) -> None:
    stack.start_api()
    worker = stack.start_worker("worker-0")
    client = stack.client()
    accepted: dict[str, str] = {}
    poster = threading.Thread(
        target=lambda: accepted.update(post_all([client], payment_requests(PAYMENTS, "kill"), threads=2))
    )
    seed = random.randrange(1_000_000)
    rng = random.Random(seed)
    started = time.monotonic()
    poster.start()
    for kill in range(1, KILLS + 1):
        time.sleep(rng.uniform(0.3, 1.5))
        worker.kill()
        worker = stack.start_worker(f"worker-{kill}")
    last_kill = time.monotonic()
    poster.join(120)
    assert len(accepted) == PAYMENTS
    ids = set(accepted.values())
    remaining = RECOVERY_BUDGET_S - (time.monotonic() - last_kill)
    recovered = stack.wait_all_final(ids, remaining) + (RECOVERY_BUDGET_S - remaining)
    figures = assert_settled(stack, ids)
    record(
        "1-worker-sigkill",
        **figures,
        kills=KILLS,
        seed=seed,
        load_seconds=round(last_kill - started, 1),
        final_after_last_kill_s=round(recovered, 1),
        budget_s=RECOVERY_BUDGET_S,
    )
