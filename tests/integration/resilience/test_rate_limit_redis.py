"""The Redis token bucket: the Lua script agrees with the domain's rule and holds across processes."""

from __future__ import annotations

import asyncio
import multiprocessing
import time

import pytest
import redis

from flosspay.adapters.rate_limit import InProcessRateLimiter, RedisRateLimiter, lease_size
from flosspay.domain.bucket import BucketLimit

pytestmark = [pytest.mark.integration, pytest.mark.redis]


def _take_all(limiter, client_id: str, limit: BucketLimit, count: int) -> list[bool]:
    async def go() -> list[bool]:
        return [(await limiter.take(client_id, limit)).allowed for _ in range(count)]

    return asyncio.run(go())


def test_a_burst_is_allowed_then_refused_with_retry_after(redis_url, namespace):
    limiter = RedisRateLimiter(redis_url, namespace)
    limit = BucketLimit(rate=1, burst=5)

    async def go():
        return [await limiter.take("cl_a", limit) for _ in range(6)]

    decisions = asyncio.run(go())
    assert [d.allowed for d in decisions] == [True] * 5 + [False]
    assert [d.remaining for d in decisions] == [4, 3, 2, 1, 0, 0]
    refused = decisions[-1]
    assert 0.9 < refused.retry_after <= 1.0 and 4.5 < refused.reset_after <= 5.0
    assert decisions[0].limit == 5
    ttl = redis.Redis.from_url(redis_url).pttl(f"{namespace}:ratelimit:cl_a")
    assert 0 < ttl <= 6000  # an idle client's key goes away by itself
    assert _take_all(limiter, "cl_b", limit, 1) == [True]  # one bucket per client


def test_the_script_refills_like_the_domain_rule(redis_url, namespace):
    limit = BucketLimit(rate=20, burst=2)
    redis_limiter = RedisRateLimiter(redis_url, namespace)
    local = InProcessRateLimiter()
    for limiter in (redis_limiter, local):
        assert _take_all(limiter, "cl_r", limit, 3) == [True, True, False]
    time.sleep(0.06)  # one token back (50 ms each)
    for limiter in (redis_limiter, local):
        assert _take_all(limiter, "cl_r", limit, 2) == [True, False]


def _hammer(url: str, namespace: str, count: int, queue) -> None:
    limiter = RedisRateLimiter(url, namespace)
    queue.put(sum(_take_all(limiter, "cl_shared", BucketLimit(rate=0.001, burst=50), count)))


def test_the_limit_holds_across_processes(redis_url, namespace):
    context = multiprocessing.get_context("spawn")
    queue = context.Queue()
    processes = [context.Process(target=_hammer, args=(redis_url, namespace, 40, queue)) for _ in range(4)]
    for p in processes:
        p.start()
    allowed = [queue.get(timeout=60) for _ in processes]
    for p in processes:
        p.join(30)
    assert sum(allowed) == 50  # 160 requests from 4 processes; exactly the burst got through


def test_an_unreachable_redis_falls_back_to_a_bucket_in_this_process():
    limiter = RedisRateLimiter("redis://127.0.0.1:9/0", "x", timeout_seconds=0.2)
    assert _take_all(limiter, "cl_a", BucketLimit(rate=0.001, burst=3), 5) == [True, True, True, False, False]


def test_a_process_takes_a_few_tokens_per_round_trip(redis_url, namespace):
    limiter = RedisRateLimiter(redis_url, namespace)
    limit = BucketLimit()  # 100/s, burst 200: leases of 10
    assert lease_size(limit) == 10 and lease_size(BucketLimit(rate=1, burst=3)) == 1

    async def go():
        return [await limiter.take("cl_a", limit) for _ in range(50)]

    decisions = asyncio.run(go())
    assert all(d.allowed for d in decisions) and limiter.round_trips == 5
    remaining = [d.remaining for d in decisions]
    assert remaining[0] == 199 and remaining == sorted(remaining, reverse=True) and remaining[-1] >= 150


def test_a_refusal_is_remembered_until_retry_after(redis_url, namespace):
    limiter = RedisRateLimiter(redis_url, namespace)
    limit = BucketLimit(rate=0.001, burst=2)
    assert _take_all(limiter, "cl_a", limit, 12) == [True, True] + [False] * 10
    assert limiter.round_trips == 3  # two single-token leases, one refusal; the rest refused locally


def _leasing(url: str, namespace: str, count: int, queue, go) -> None:
    limiter = RedisRateLimiter(url, namespace)
    go.wait(30)
    start = time.time()
    allowed = sum(_take_all(limiter, "cl_shared", BucketLimit(rate=100, burst=200), count))
    queue.put((allowed, start, time.time()))


def test_leases_never_let_more_through_than_the_bucket(redis_url, namespace):
    context = multiprocessing.get_context("spawn")
    queue = context.Queue()
    go = context.Event()
    processes = [context.Process(target=_leasing, args=(redis_url, namespace, 150, queue, go)) for _ in range(4)]
    for p in processes:
        p.start()
    time.sleep(1.5)  # let them import; then all start at once
    go.set()
    results = [queue.get(timeout=60) for _ in processes]
    for p in processes:
        p.join(30)
    allowed = sum(a for a, _, _ in results)
    window = max(end for _, _, end in results) - min(start for _, start, _ in results)
    # 600 asked; the burst, plus what refilled meanwhile, minus at most one unspent lease per process.
    assert 200 - 4 * 10 <= allowed <= 200 + 100 * window + 1, (allowed, window)
