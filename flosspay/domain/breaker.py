"""Circuit breaker rules (ServiceCircuitBreaker): when a PSP is failing, stop calling it for a while.

Pure functions over an immutable ``Breaker`` record, so every store (in-process, Redis) applies
exactly the same rules and tests can drive them with any clock. Only transient outcomes (timeouts,
5xx, unreachable) count as failures: a decline is the PSP working as it should.

CLOSED: calls pass; outcomes are counted in a fixed window. Below ``min_calls`` outcomes it opens
at ``failure_threshold`` failures (a quiet rail); from ``min_calls`` on, only when ``failure_rate``
or more of them failed, so at volume a handful of payer-specific transient answers never stops a
healthy PSP for everyone. OPEN: every call is refused until ``cool_down`` after it opened. HALF_OPEN: up to
``half_open_probes`` calls pass as probes; that many successes close it, one failure reopens it.
Probes that never report (their worker died) are given up after another ``cool_down``.
"""

from __future__ import annotations

import enum
from datetime import datetime, timedelta

import msgspec

from flosspay.domain.rail import Outcome


class BreakerState(enum.StrEnum):
    CLOSED = "CLOSED"
    OPEN = "OPEN"
    HALF_OPEN = "HALF_OPEN"


class BreakerConfig(msgspec.Struct, frozen=True):
    """Thresholds of one service's breaker (``FLOSSPAY_BREAKER_*``, per rail overridable)."""

    failure_threshold: int = 5
    failure_rate: float = 0.5
    min_calls: int = 20
    window: timedelta = timedelta(seconds=60)
    cool_down: timedelta = timedelta(seconds=30)
    half_open_probes: int = 1

    def __post_init__(self) -> None:
        if self.failure_threshold < 1 or self.min_calls < 1 or self.half_open_probes < 1:
            raise ValueError("failure_threshold, min_calls and half_open_probes must be at least 1")
        if not 0 < self.failure_rate <= 1:
            raise ValueError("failure_rate must be in (0, 1]")
        if self.window <= timedelta(0) or self.cool_down <= timedelta(0):
            raise ValueError("window and cool_down must be positive")


class Breaker(msgspec.Struct, frozen=True):
    """One service's breaker. ``version`` grows with every change (stores swap on it atomically)."""

    service: str
    state: BreakerState = BreakerState.CLOSED
    failures: int = 0
    calls: int = 0
    window_start: datetime | None = None
    last_failure: datetime | None = None
    opened_at: datetime | None = None
    half_open_at: datetime | None = None
    probes: int = 0
    probe_successes: int = 0
    version: int = 0


class Permit(msgspec.Struct, frozen=True):
    """May this call go to the PSP? ``probe``: it tests a half-open breaker. ``retry_at``: when refused."""

    allowed: bool
    probe: bool = False
    retry_at: datetime | None = None


def counts_as_failure(outcome: Outcome) -> bool:
    """Timeouts, 5xx and unreachable PSPs (TRANSIENT, UNCERTAIN); declines and answers are not."""
    return outcome in (Outcome.TRANSIENT, Outcome.UNCERTAIN)


def _bump(breaker: Breaker, **changes: object) -> Breaker:
    return msgspec.structs.replace(breaker, version=breaker.version + 1, **changes)


def acquire(breaker: Breaker, now: datetime, config: BreakerConfig) -> tuple[Breaker, Permit]:
    """Ask to call the service now: the breaker afterwards (the same object when unchanged) and the answer."""
    if breaker.state is BreakerState.CLOSED:
        return breaker, Permit(True)
    if breaker.state is BreakerState.OPEN:
        assert breaker.opened_at is not None
        reopen_at = breaker.opened_at + config.cool_down
        if now < reopen_at:
            return breaker, Permit(False, retry_at=reopen_at)
        probing = _bump(breaker, state=BreakerState.HALF_OPEN, half_open_at=now, probes=1, probe_successes=0)
        return probing, Permit(True, probe=True)
    assert breaker.half_open_at is not None
    if breaker.probes < config.half_open_probes:
        return _bump(breaker, probes=breaker.probes + 1), Permit(True, probe=True)
    give_up_at = breaker.half_open_at + config.cool_down
    if now >= give_up_at:  # the probes never reported: start a fresh half-open period
        return _bump(breaker, half_open_at=now, probes=1, probe_successes=0), Permit(True, probe=True)
    return breaker, Permit(False, retry_at=give_up_at)


def record(breaker: Breaker, failed: bool, probe: bool, now: datetime, config: BreakerConfig) -> Breaker:
    """The outcome of a call that was permitted (``probe`` as the permit said)."""
    last_failure = now if failed else breaker.last_failure
    if breaker.state is BreakerState.OPEN or (breaker.state is BreakerState.HALF_OPEN and not probe):
        # A late answer to a call made before the breaker opened says nothing about recovery.
        return _bump(breaker, last_failure=now) if failed else breaker
    if breaker.state is BreakerState.HALF_OPEN:
        if failed:
            return _opened(breaker, now)
        successes = breaker.probe_successes + 1
        if successes >= config.half_open_probes:
            return _closed(breaker, now)
        return _bump(breaker, probe_successes=successes)
    window_start = breaker.window_start
    calls, failures = breaker.calls, breaker.failures
    if window_start is None or now >= window_start + config.window or now < window_start:
        window_start, calls, failures = now, 0, 0
    calls += 1
    failures += int(failed)
    if calls < config.min_calls:
        tripped = failed and failures >= config.failure_threshold
    else:
        tripped = failed and failures >= config.failure_rate * calls
    updated = _bump(breaker, window_start=window_start, calls=calls, failures=failures, last_failure=last_failure)
    return _opened(updated, now) if tripped else updated


def _opened(breaker: Breaker, now: datetime) -> Breaker:
    return _bump(
        breaker,
        state=BreakerState.OPEN,
        opened_at=now,
        last_failure=now,
        half_open_at=None,
        probes=0,
        probe_successes=0,
    )


def _closed(breaker: Breaker, now: datetime) -> Breaker:
    return _bump(
        breaker,
        state=BreakerState.CLOSED,
        failures=0,
        calls=0,
        window_start=now,
        opened_at=None,
        half_open_at=None,
        probes=0,
        probe_successes=0,
    )


def retry_delay(permit: Permit, now: datetime) -> timedelta:
    """How long a refused call should wait (never negative)."""
    if permit.retry_at is None:
        return timedelta(0)
    return max(permit.retry_at - now, timedelta(0))
