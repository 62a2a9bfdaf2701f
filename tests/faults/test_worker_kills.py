"""Fault case 1: SIGKILL a worker at random points while 200 payments flow, restart it each time.

Whatever the dead worker's broker consumer held (prefetched messages, delayed retries), FlossPay's
own recovery (leases, retry deadlines and the relay's stalled sweep) brings every payment to a
final status within lease + backoff + 15 s of the last kill.
"""

from __future__ import annotations

import os
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


def _contention() -> float:
    """Runnable processes per core right now (1 on a quiet machine; this one is shared by many)."""
    return max(1.0, os.getloadavg()[0] / (os.cpu_count() or 1))


def test_every_payment_is_final_soon_after_the_last_worker_kill(stack: FaultStack) -> None:
    # Dramatiq would hand a dead worker's messages to others only after this: never within the
    # test, so every recovery seen here is FlossPay's own (leases, retry deadlines, the sweep).
    stack.env["FLOSSPAY_HEARTBEAT_TIMEOUT_MS"] = "600000"
    stack.start_api()
    # Two workers, one of them SIGKILLed at random each time and restarted: recovery is measured,
    # not the start-up time of a Python process on a shared 2-core machine.
    workers = [stack.start_worker("worker-a0"), stack.start_worker("worker-b0")]
    stack.warm_up()
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
        victim = rng.randrange(2)
        workers[victim].kill()
        workers[victim] = stack.start_worker(f"worker-{'ab'[victim]}{kill}")
    last_kill = time.monotonic()
    poster.join(120)
    assert len(accepted) == PAYMENTS
    ids = set(accepted.values())
    stack.wait_all_final(ids, 120)
    recovered = time.monotonic() - last_kill
    # The bound is CPU time as much as wall time: on a machine shared with other work it stretches
    # with the contention measured now (capped, so a real stall still fails).
    contention = min(3.0, _contention())
    budget = RECOVERY_BUDGET_S * contention
    figures = assert_settled(stack, ids | set(stack.statuses()))
    record(
        "1-worker-sigkill",
        **figures,
        kills=KILLS,
        seed=seed,
        load_seconds=round(last_kill - started, 1),
        final_after_last_kill_s=round(recovered, 1),
        budget_s=round(budget, 1),
        contention=round(contention, 2),
    )
    assert recovered <= budget, f"final {recovered:.1f}s after the last kill (budget {budget:.1f}s)"
