"""Successes counted in batches in a shared breaker store: fewer round trips, the same trips (ADR 0015)."""

from datetime import UTC, datetime, timedelta

import pytest

from flosspay.adapters.breaker_store import InProcessBreakerStore
from flosspay.application.breakers import BreakerPolicy, CircuitBreakers
from flosspay.domain.breaker import Breaker, BreakerConfig, BreakerState, Permit
from flosspay.domain.rail import Outcome
from tests.fakes import FakeClock

pytestmark = pytest.mark.unit

T0 = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)


class _Ticks:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


class _CountingStore(InProcessBreakerStore):
    def __init__(self) -> None:
        super().__init__()
        self.swaps = 0

    def swap(self, expected_version: int, breaker: Breaker) -> bool:
        self.swaps += 1
        return super().swap(expected_version, breaker)


def _batched(batch: int = 4, **config: object):
    store, ticks = _CountingStore(), _Ticks()
    cfg = BreakerConfig(**config)  # type: ignore[arg-type]
    breakers = CircuitBreakers(
        store,
        FakeClock(T0),
        BreakerPolicy(default=cfg),
        success_batch=batch,
        success_delay_seconds=0.1,
        monotonic=ticks,
    )
    return breakers, store, ticks


def test_successes_are_stored_a_batch_at_a_time():
    breakers, store, _ = _batched(batch=4)
    for _ in range(7):
        breakers.record("upi", Permit(True), Outcome.COMPLETED)
    assert store.load("upi").calls == 4 and store.swaps == 1
    breakers.flush()
    assert store.load("upi").calls == 7 and store.swaps == 2


def test_a_pending_batch_is_stored_once_it_is_old_enough():
    breakers, store, ticks = _batched(batch=100)
    breakers.record("upi", Permit(True), Outcome.COMPLETED)
    ticks.now += 0.1
    breakers.record("upi", Permit(True), Outcome.DECLINED)  # a decline is a success for the breaker
    assert store.load("upi").calls == 2


def test_a_failure_writes_the_pending_successes_first_so_the_rate_is_exact():
    breakers, store, _ = _batched(batch=100, failure_threshold=1, min_calls=4, failure_rate=0.5)
    for _ in range(3):
        breakers.record("upi", Permit(True), Outcome.COMPLETED)
    breakers.record("upi", Permit(True), Outcome.UNCERTAIN)  # 1 failure in 4 calls: under the rate
    stored = store.load("upi")
    assert (stored.calls, stored.failures, stored.state) == (4, 1, BreakerState.CLOSED)
    breakers.record("upi", Permit(True), Outcome.TRANSIENT)
    breakers.record("upi", Permit(True), Outcome.TRANSIENT)  # 3 of 6: at the rate, it opens
    assert store.load("upi").state is BreakerState.OPEN
    assert not breakers.acquire("upi").allowed


def test_a_probes_success_is_never_held_back():
    breakers, store, _ = _batched(batch=100, failure_threshold=1, cool_down=timedelta(seconds=5), half_open_probes=1)
    breakers.record("upi", Permit(True), Outcome.TRANSIENT)
    assert store.load("upi").state is BreakerState.OPEN
    breakers.clock.advance(5)  # type: ignore[attr-defined]
    probe = breakers.acquire("upi")
    assert probe.allowed and probe.probe
    breakers.record("upi", probe, Outcome.COMPLETED)
    assert store.load("upi").state is BreakerState.CLOSED


def test_success_batch_must_be_positive():
    with pytest.raises(ValueError, match="at least 1"):
        CircuitBreakers(InProcessBreakerStore(), FakeClock(T0), success_batch=0)
