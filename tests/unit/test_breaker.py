"""Circuit breaker rules, driven by an injected clock (no sleeping, no I/O)."""

from datetime import UTC, datetime, timedelta

import pytest

from flosspay.domain.breaker import (
    Breaker,
    BreakerConfig,
    BreakerState,
    Permit,
    acquire,
    counts_as_failure,
    record,
    retry_delay,
)
from flosspay.domain.rail import Outcome

pytestmark = pytest.mark.unit

T0 = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
CFG = BreakerConfig(
    failure_threshold=3,
    failure_rate=0.5,
    min_calls=10,
    window=timedelta(seconds=60),
    cool_down=timedelta(seconds=30),
    half_open_probes=2,
)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def fail(b: Breaker, seconds: float, probe: bool = False) -> Breaker:
    return record(b, True, probe, at(seconds), CFG)


def ok(b: Breaker, seconds: float, probe: bool = False) -> Breaker:
    return record(b, False, probe, at(seconds), CFG)


def opened(seconds: float = 0) -> Breaker:
    b = Breaker("upi")
    for _i in range(3):
        b = fail(b, seconds)
    assert b.state is BreakerState.OPEN
    return b


def test_only_transient_outcomes_are_failures():
    assert {o for o in Outcome if counts_as_failure(o)} == {Outcome.TRANSIENT, Outcome.UNCERTAIN}


def test_closed_allows_without_change():
    b = Breaker("upi")
    after, permit = acquire(b, T0, CFG)
    assert after is b and permit == Permit(True, probe=False)


def test_opens_at_the_failure_count_in_the_window():
    b = fail(fail(Breaker("upi"), 0), 1)
    assert b.state is BreakerState.CLOSED and b.failures == 2 and b.last_failure == at(1)
    b = fail(b, 2)
    assert b.state is BreakerState.OPEN and b.opened_at == at(2) and b.failures == 3


def test_failures_in_an_old_window_do_not_count():
    b = fail(fail(Breaker("upi"), 0), 1)
    b = fail(b, 60)  # a new window starts at 60 s
    assert b.state is BreakerState.CLOSED and b.failures == 1 and b.calls == 1 and b.window_start == at(60)


def test_declines_and_successes_never_open_it():
    b = Breaker("upi")
    for i in range(100):
        b = ok(b, i * 0.1)
    assert b.state is BreakerState.CLOSED and b.failures == 0 and b.calls == 100


def test_opens_on_the_failure_rate_once_enough_calls():
    cfg = BreakerConfig(failure_threshold=100, failure_rate=0.5, min_calls=10, window=timedelta(seconds=60))
    b = Breaker("upi")
    outcomes = [False, True] * 4 + [False]  # 9 calls, 4 failures: below min_calls
    for i, failed in enumerate(outcomes):
        b = record(b, failed, False, at(i), cfg)
    assert b.state is BreakerState.CLOSED and b.calls == 9
    b = record(b, True, False, at(10), cfg)  # 10 calls, 5 failures = 50 %
    assert b.state is BreakerState.OPEN


def test_rate_below_the_threshold_stays_closed():
    cfg = BreakerConfig(failure_threshold=100, failure_rate=0.5, min_calls=10)
    b = Breaker("upi")
    for i in range(20):
        b = record(b, i % 3 == 0, False, at(i), cfg)  # 7 of 20 fail
    assert b.state is BreakerState.CLOSED


def test_open_refuses_until_the_cool_down_then_lets_probes_through():
    b = opened(0)
    same, permit = acquire(b, at(29.9), CFG)
    assert same is b and not permit.allowed and permit.retry_at == at(30)
    assert retry_delay(permit, at(29.9)) == timedelta(seconds=0.1)
    b, first = acquire(b, at(30), CFG)
    assert first == Permit(True, probe=True) and b.state is BreakerState.HALF_OPEN and b.half_open_at == at(30)
    b, second = acquire(b, at(30.5), CFG)
    assert second == Permit(True, probe=True) and b.probes == 2
    same, third = acquire(b, at(31), CFG)  # only half_open_probes at once
    assert same is b and not third.allowed and third.retry_at == at(60)


def test_enough_probe_successes_close_it():
    b = opened(0)
    b, _ = acquire(b, at(30), CFG)
    b, _ = acquire(b, at(30), CFG)
    b = ok(b, 31, probe=True)
    assert b.state is BreakerState.HALF_OPEN and b.probe_successes == 1
    b = ok(b, 32, probe=True)
    assert b.state is BreakerState.CLOSED and b.failures == 0 and b.calls == 0 and b.opened_at is None
    _after, permit = acquire(b, at(32), CFG)
    assert permit.allowed and not permit.probe


def test_a_failed_probe_reopens_it_for_another_cool_down():
    b = opened(0)
    b, _ = acquire(b, at(30), CFG)
    b = fail(b, 31, probe=True)
    assert b.state is BreakerState.OPEN and b.opened_at == at(31) and b.probes == 0
    _, permit = acquire(b, at(60), CFG)
    assert not permit.allowed and permit.retry_at == at(61)


def test_late_answers_of_calls_made_before_it_opened_change_nothing():
    b = opened(0)
    assert ok(b, 1) is b
    later = fail(b, 2)
    assert later.state is BreakerState.OPEN and later.opened_at == at(0) and later.last_failure == at(2)
    b, _ = acquire(b, at(30), CFG)
    assert fail(b, 31, probe=False).state is BreakerState.HALF_OPEN
    assert ok(b, 31, probe=False) is b


def test_probes_that_never_report_are_given_up_after_a_cool_down():
    b = opened(0)
    b, _ = acquire(b, at(30), CFG)
    b, _ = acquire(b, at(30), CFG)
    _, refused = acquire(b, at(59), CFG)
    assert not refused.allowed
    b, permit = acquire(b, at(60), CFG)
    assert permit == Permit(True, probe=True) and b.half_open_at == at(60) and b.probes == 1


def test_every_change_bumps_the_version():
    b = Breaker("upi")
    versions = [b.version]
    for i in range(3):
        b = fail(b, i)
        versions.append(b.version)
    b, _ = acquire(b, at(40), CFG)
    versions.append(b.version)
    assert versions == sorted(set(versions))


@pytest.mark.parametrize(
    "kwargs",
    [
        {"failure_threshold": 0},
        {"min_calls": 0},
        {"half_open_probes": 0},
        {"failure_rate": 0},
        {"failure_rate": 1.5},
        {"window": timedelta(0)},
        {"cool_down": timedelta(seconds=-1)},
    ],
)
def test_bad_thresholds_are_refused(kwargs):
    with pytest.raises(ValueError):
        BreakerConfig(**kwargs)


@pytest.mark.unit
def test_at_volume_only_the_failure_rate_opens_it() -> None:
    """A busy rail with a few payer-specific transient answers stays CLOSED; a real outage opens it."""
    cfg = BreakerConfig(failure_threshold=5, failure_rate=0.5, min_calls=20, window=timedelta(seconds=60))
    breaker = Breaker("upi")
    now = T0
    for i in range(200):  # 10% failures, spread out: far more than 5 in the window
        breaker = record(breaker, i % 10 == 0, False, now, cfg)
        now += timedelta(milliseconds=100)
    assert breaker.state is BreakerState.CLOSED
    assert breaker.failures >= 5
    for _ in range(200):  # then every call fails: the rate crosses 0.5 and it opens
        breaker = record(breaker, True, False, now, cfg)
        if breaker.state is BreakerState.OPEN:
            break
    assert breaker.state is BreakerState.OPEN


@pytest.mark.unit
def test_below_min_calls_the_failure_count_opens_it() -> None:
    cfg = BreakerConfig(failure_threshold=3, failure_rate=0.5, min_calls=20)
    breaker = Breaker("upi")
    for _ in range(2):
        breaker = record(breaker, True, False, T0, cfg)
    assert breaker.state is BreakerState.CLOSED
    breaker = record(breaker, True, False, T0, cfg)
    assert breaker.state is BreakerState.OPEN
