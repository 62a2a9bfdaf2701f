"""Circuit breakers around rail calls: ask before calling a PSP, report how the call went.

The rules are the domain's (``flosspay.domain.breaker``); this module applies them to the shared
store with compare-and-swap, so two workers changing one breaker at once never lose an update.
A store that cannot be reached never stops payments: the call is allowed (the PSP call is bounded
by its own timeout) and the outcome is not counted.
"""

from __future__ import annotations

import logging
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
    """Every breaker of this deployment, over one ``BreakerStore``."""

    def __init__(self, store: BreakerStore, clock: Clock, policy: BreakerPolicy | None = None) -> None:
        self.store = store
        self.clock = clock
        self.policy = policy or BreakerPolicy()

    def acquire(self, service: str) -> Permit:
        """May a call to ``service`` go out now? Refused while its breaker is open."""
        config = self.policy.for_service(service)
        now = self.clock.now()
        permit = self._update(service, lambda b: rules.acquire(b, now, config))
        return permit if permit is not None else Permit(True)

    def record(self, service: str, permit: Permit, outcome: Outcome) -> None:
        """Count the outcome of a permitted call (a decline is a success for the breaker)."""
        config = self.policy.for_service(service)
        now = self.clock.now()
        failed = rules.counts_as_failure(outcome)
        self._update(service, lambda b: (rules.record(b, failed, permit.probe, now, config), None))

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
