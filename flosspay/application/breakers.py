"""Circuit breakers around rail calls: ask before calling a PSP, report how the call went.

The rules are the domain's (``flosspay.domain.breaker``); this module applies them to the shared
store with compare-and-swap, so two workers changing one breaker at once never lose an update.
A store that cannot be reached never stops payments: the call is allowed (the PSP call is bounded
by its own timeout) and the outcome is not counted.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import TypeVar

import msgspec

from flosspay.domain import breaker as rules
from flosspay.domain.breaker import Breaker, BreakerConfig, Permit
from flosspay.domain.ports import BreakerStore, Clock
from flosspay.domain.rail import Outcome

logger = logging.getLogger("flosspay.breaker")
T = TypeVar("T")

MAX_SWAPS = 50


class BreakerPolicy(msgspec.Struct, frozen=True):
    """The default thresholds and per-rail overrides; a service ``rail/host`` uses its rail's."""

    default: BreakerConfig = BreakerConfig()
    per_rail: dict[str, BreakerConfig] = msgspec.field(default_factory=dict)

    def for_service(self, service: str) -> BreakerConfig:
        return self.per_rail.get(service.split("/", 1)[0], self.default)


class CircuitBreakers:
    """Every breaker of this deployment, over one ``BreakerStore``.

    ``success_batch``: successes of ordinary (non-probe) calls are counted in the store up to this
    many at a time, or after ``success_delay_seconds``, whichever comes first (1: each at once). A
    shared store costs a round trip per change, the worker's largest per-payment cost after the
    database (ADR 0015). A failure, a probe's answer, or a full batch writes what is pending first,
    so a breaker trips on exactly the counts it would have had; only another process may briefly see
    up to ``success_batch - 1`` fewer successes of this one, which makes it trip sooner, not later.
    """

    def __init__(
        self,
        store: BreakerStore,
        clock: Clock,
        policy: BreakerPolicy | None = None,
        *,
        success_batch: int = 1,
        success_delay_seconds: float = 0.1,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        if success_batch < 1:
            raise ValueError("success_batch must be at least 1")
        self.store = store
        self.clock = clock
        self.policy = policy or BreakerPolicy()
        self.success_batch = success_batch
        self.success_delay_seconds = success_delay_seconds
        self._monotonic = monotonic
        self._pending: dict[str, tuple[int, float]] = {}  # service -> (successes not stored yet, since)
        self._lock = threading.Lock()

    def acquire(self, service: str) -> Permit:
        """May a call to ``service`` go out now? Refused while its breaker is open."""
        config = self.policy.for_service(service)
        now = self.clock.now()
        permit = self._update(service, lambda b: rules.acquire(b, now, config))
        return permit if permit is not None else Permit(True)

    def record(self, service: str, permit: Permit, outcome: Outcome) -> None:
        """Count the outcome of a permitted call (a decline is a success for the breaker)."""
        failed = rules.counts_as_failure(outcome)
        if not failed and not permit.probe and self.success_batch > 1:
            successes = self._take_pending(service, adding=True)
            if successes:
                self._store(service, successes, None)
            return  # else kept for the next write
        self._store(service, self._take_pending(service, adding=False), (failed, permit.probe))

    def flush(self) -> None:
        """Store every success still pending (at shutdown, or before reading counts)."""
        with self._lock:
            services = list(self._pending)
        for service in services:
            successes = self._take_pending(service, adding=False)
            if successes:
                self._store(service, successes, None)

    def _store(self, service: str, successes: int, outcome: tuple[bool, bool] | None) -> None:
        """Count ``successes`` ordinary successes, then ``outcome`` (failed, probe) if given, in one change."""
        config = self.policy.for_service(service)
        now = self.clock.now()

        def change(breaker: Breaker) -> tuple[Breaker, None]:
            for _ in range(successes):
                breaker = rules.record(breaker, False, False, now, config)
            if outcome is not None:
                breaker = rules.record(breaker, outcome[0], outcome[1], now, config)
            return breaker, None

        self._update(service, change)

    def _take_pending(self, service: str, adding: bool) -> int:
        """With ``adding``, count one more success: 0 while the batch is not due, else the batch to write.
        Without, the pending successes, to be written before the outcome at hand."""
        now = self._monotonic()
        with self._lock:
            count, since = self._pending.pop(service, (0, now))
            if not adding:
                return count
            count += 1
            if count < self.success_batch and now - since < self.success_delay_seconds:
                self._pending[service] = (count, since)
                return 0
            return count

    def snapshot(self, service: str) -> Breaker | None:
        """The breaker as stored now (None when the store does not answer)."""
        try:
            return self.store.load(service)
        except Exception as exc:
            logger.warning("breaker store unavailable (%s)", type(exc).__name__)
            return None

    def _update(self, service: str, change: Callable[[Breaker], tuple[Breaker, T]]) -> T | None:
        try:
            for _ in range(MAX_SWAPS):
                current = self.store.load(service)
                updated, answer = change(current)
                if updated is current or updated == current:
                    return answer
                if self.store.swap(current.version, updated):
                    if updated.state is not current.state:
                        logger.warning("circuit breaker %s: %s -> %s", service, current.state, updated.state)
                    return answer
            logger.warning("breaker %s: too much contention, change skipped", service)
        except Exception as exc:
            logger.warning("breaker store unavailable for %s (%s); call allowed", service, type(exc).__name__)
        return None
