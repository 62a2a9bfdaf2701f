"""The Redis breaker store: readable fields, compare-and-swap, and no lost update across processes."""

from __future__ import annotations

import multiprocessing
import threading
from datetime import UTC, datetime, timedelta

import pytest
import redis

from flosspay.adapters.breaker_store import CachedBreakerStore, InProcessBreakerStore, RedisBreakerStore
from flosspay.application.breakers import BreakerPolicy, CircuitBreakers
from flosspay.domain.breaker import Breaker, BreakerConfig, BreakerState, Permit
from flosspay.domain.rail import Outcome
from tests.fakes import FakeClock

pytestmark = [pytest.mark.integration, pytest.mark.redis]

T0 = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)


def test_a_missing_breaker_is_closed_and_a_stored_one_reads_back_field_by_field(redis_url, namespace):
    store = RedisBreakerStore(redis_url, namespace)
    assert store.load("upi") == Breaker("upi")
    opened = Breaker(
        "upi", BreakerState.OPEN, 5, 7, T0, T0 + timedelta(seconds=3), T0 + timedelta(seconds=3), None, 0, 0, 4
    )
    assert store.swap(0, opened)
    assert store.load("upi") == opened
    raw = redis.Redis.from_url(redis_url).hgetall(f"{namespace}:breaker:upi")
    assert raw[b"service"] == b"upi" and raw[b"state"] == b"OPEN" and raw[b"failures"] == b"5"
    assert raw[b"opened_at"] == (T0 + timedelta(seconds=3)).isoformat().encode() and raw[b"half_open_at"] == b""
    store.close()


@pytest.mark.parametrize("kind", ["redis", "memory"])
def test_swap_refuses_a_stale_version(redis_url, namespace, kind):
    store = RedisBreakerStore(redis_url, namespace) if kind == "redis" else InProcessBreakerStore()
    first = Breaker("card", calls=1, version=1)
    assert store.swap(0, first)
    assert not store.swap(0, Breaker("card", calls=99, version=1))  # computed from the old version
    assert store.load("card") == first
    assert store.swap(1, Breaker("card", calls=2, version=2))
    assert store.load("card").calls == 2


def _record_many(url: str, namespace: str, count: int) -> None:
    cfg = BreakerConfig(failure_threshold=10**6, min_calls=10**6, window=timedelta(hours=1))
    breakers = CircuitBreakers(RedisBreakerStore(url, namespace), FakeClock(T0), BreakerPolicy(default=cfg))
    permit = breakers.acquire("upi")
    for i in range(count):
        breakers.record("upi", permit, Outcome.TRANSIENT if i % 2 else Outcome.COMPLETED)


def test_concurrent_processes_and_threads_lose_no_update(redis_url, namespace):
    processes = [
        multiprocessing.get_context("spawn").Process(target=_record_many, args=(redis_url, namespace, 100))
        for _ in range(3)
    ]
    threads = [threading.Thread(target=_record_many, args=(redis_url, namespace, 100)) for _ in range(3)]
    for worker in [*processes, *threads]:
        worker.start()
    for worker in [*processes, *threads]:
        worker.join(60)
    assert all(p.exitcode == 0 for p in processes)
    breaker = RedisBreakerStore(redis_url, namespace).load("upi")
    assert breaker.calls == 600 and breaker.failures == 300 and breaker.state is BreakerState.CLOSED
    assert breaker.version == 600


def test_breakers_shared_through_redis_open_for_every_worker(redis_url, namespace):
    clock = FakeClock(T0)
    cfg = BreakerConfig(failure_threshold=3, cool_down=timedelta(seconds=30))
    one = CircuitBreakers(RedisBreakerStore(redis_url, namespace), clock, BreakerPolicy(default=cfg))
    other = CircuitBreakers(RedisBreakerStore(redis_url, namespace), clock, BreakerPolicy(default=cfg))
    for _ in range(3):
        one.record("upi", one.acquire("upi"), Outcome.UNCERTAIN)
    refused = other.acquire("upi")
    assert not refused.allowed and refused.retry_at == T0 + timedelta(seconds=30)
    assert other.acquire("card").allowed  # one breaker per rail
    clock.advance(30)
    probes = [one.acquire("upi"), other.acquire("upi")]
    assert [p.allowed for p in probes] == [True, False]  # one probe at a time, across workers
    one.record("upi", probes[0], Outcome.DECLINED)  # the PSP answered: it is back
    assert other.snapshot("upi").state is BreakerState.CLOSED and other.acquire("upi").allowed


def test_only_one_probe_passes_when_many_workers_ask_at_once(redis_url, namespace):
    clock = FakeClock(T0)
    cfg = BreakerConfig(failure_threshold=1, cool_down=timedelta(seconds=5), half_open_probes=2)
    setup = CircuitBreakers(RedisBreakerStore(redis_url, namespace), clock, BreakerPolicy(default=cfg))
    setup.record("upi", setup.acquire("upi"), Outcome.TRANSIENT)
    clock.advance(5)
    results: list[bool] = []
    barrier = threading.Barrier(8)

    def ask() -> None:
        breakers = CircuitBreakers(RedisBreakerStore(redis_url, namespace), clock, BreakerPolicy(default=cfg))
        barrier.wait()
        results.append(breakers.acquire("upi").allowed)

    threads = [threading.Thread(target=ask) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert sorted(results) == [False] * 6 + [True] * 2


class _Ticks:
    """A monotonic clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


class _Counting:
    """Counts the loads that reach the shared store."""

    def __init__(self, store: RedisBreakerStore) -> None:
        self.store, self.loads = store, 0

    def load(self, service: str) -> Breaker:
        self.loads += 1
        return self.store.load(service)

    def swap(self, expected_version: int, breaker: Breaker) -> bool:
        return self.store.swap(expected_version, breaker)


def test_cached_store_answers_reads_from_memory_and_still_loses_no_update(redis_url, namespace):
    ticks = _Ticks()
    shared = _Counting(RedisBreakerStore(redis_url, namespace))
    cached = CachedBreakerStore(shared, ttl_seconds=1.0, monotonic=ticks)
    cfg = BreakerConfig(failure_threshold=10**6, min_calls=10**6, window=timedelta(hours=1))
    mine = CircuitBreakers(cached, FakeClock(T0), BreakerPolicy(default=cfg))
    other = CircuitBreakers(RedisBreakerStore(redis_url, namespace), FakeClock(T0), BreakerPolicy(default=cfg))
    for _ in range(10):
        mine.record("upi", mine.acquire("upi"), Outcome.COMPLETED)
    assert shared.loads == 1  # the first read; every later one is the copy its own swaps keep current
    other.record("upi", other.acquire("upi"), Outcome.COMPLETED)  # another process changes it: my copy is stale
    mine.record("upi", mine.acquire("upi"), Outcome.COMPLETED)  # the stale swap fails, the retry reloads
    breaker = RedisBreakerStore(redis_url, namespace).load("upi")
    assert breaker.calls == 12 and breaker.version == 12


def test_cached_store_sees_a_breaker_opened_elsewhere_within_its_ttl(redis_url, namespace):
    ticks = _Ticks()
    clock = FakeClock(T0)
    cfg = BreakerConfig(failure_threshold=3, cool_down=timedelta(seconds=30))
    cached = CachedBreakerStore(RedisBreakerStore(redis_url, namespace), ttl_seconds=0.25, monotonic=ticks)
    mine = CircuitBreakers(cached, clock, BreakerPolicy(default=cfg))
    other = CircuitBreakers(RedisBreakerStore(redis_url, namespace), clock, BreakerPolicy(default=cfg))
    assert mine.acquire("upi").allowed
    for _ in range(3):
        other.record("upi", other.acquire("upi"), Outcome.UNCERTAIN)
    assert mine.acquire("upi").allowed  # the copy is younger than the TTL: at most this late
    ticks.now += 0.25
    refused = mine.acquire("upi")
    assert not refused.allowed and refused.retry_at == T0 + timedelta(seconds=30)
    for _ in range(3):  # and a trip by this process is seen by this process at once
        mine.record("upi", Permit(True), Outcome.UNCERTAIN)
    assert not mine.acquire("upi").allowed


def test_cached_store_forgets_its_copy_when_the_store_fails(namespace):
    class Failing(InProcessBreakerStore):
        fail = False

        def swap(self, expected_version: int, breaker: Breaker) -> bool:
            if self.fail:
                raise ConnectionError("down")
            return super().swap(expected_version, breaker)

    inner = Failing()
    cached = CachedBreakerStore(inner, ttl_seconds=60, monotonic=_Ticks())
    assert cached.swap(0, Breaker("upi", calls=1, version=1))
    inner.fail = True
    with pytest.raises(ConnectionError):
        cached.swap(1, Breaker("upi", calls=2, version=2))
    inner.fail = False
    inner.swap(1, Breaker("upi", calls=5, version=2))  # changed behind the copy's back
    assert cached.load("upi").calls == 5


def test_the_container_shares_breakers_through_redis_with_cached_reads_and_batched_successes(
    redis_url, namespace, tmp_path
):
    from flosspay.adapters.config import load_settings
    from flosspay.adapters.container import SHARED_SUCCESS_BATCH, Container

    env = {"FLOSSPAY_DATA_DIR": str(tmp_path / "shared"), "FLOSSPAY_REDIS_URL": redis_url}
    shared = Container(settings=load_settings(env | {"FLOSSPAY_QUEUE_NAMESPACE": namespace}))
    assert isinstance(shared.breaker_store().store, CachedBreakerStore)
    assert shared.breakers().success_batch == SHARED_SUCCESS_BATCH > 1
    embedded = Container(settings=load_settings({"FLOSSPAY_DATA_DIR": str(tmp_path / "embedded")}))
    assert isinstance(embedded.breaker_store().store, InProcessBreakerStore)
    assert embedded.breakers().success_batch == 1
