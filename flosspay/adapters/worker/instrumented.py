"""Rails as the worker sees them, timed: each call's latency by rail, action and outcome.

A wrapper around the registry, so neither the use case nor the rails know about metrics. The
rail last called in this thread is remembered, so the worker can label its own measurements.
"""

from __future__ import annotations

import contextvars
import time
from typing import Any

from flosspay.adapters.metrics import RAIL_CALL, child
from flosspay.domain.ports import RailRegistry
from flosspay.domain.rail import Rail, RailRequest, RailResult

current_rail: contextvars.ContextVar[str | None] = contextvars.ContextVar("flosspay_current_rail", default=None)


class TimedRail:
    """Delegates everything to ``rail``; ``execute`` and ``status`` are timed."""

    def __init__(self, rail: Rail) -> None:
        self._rail = rail

    def __getattr__(self, name: str) -> Any:
        return getattr(self._rail, name)

    def _timed(self, action: str, request: RailRequest) -> RailResult:
        current_rail.set(self._rail.name)
        start = time.perf_counter()
        outcome = "error"
        try:
            result = getattr(self._rail, action)(request)
            outcome = str(getattr(getattr(result, "outcome", None), "value", "invalid")).lower()
            return result  # type: ignore[no-any-return]
        finally:
            child(RAIL_CALL, self._rail.name, action, outcome).observe(time.perf_counter() - start)

    def execute(self, request: RailRequest) -> RailResult:
        return self._timed("execute", request)

    def status(self, request: RailRequest) -> RailResult:
        return self._timed("status", request)


class TimedRails:
    """A RailRegistry whose rails are ``TimedRail``s (wrapped once)."""

    def __init__(self, registry: RailRegistry) -> None:
        self._registry = registry
        self._wrapped: dict[str, TimedRail] = {}

    def __getattr__(self, name: str) -> Any:
        return getattr(self._registry, name)

    def _wrap(self, rail: Rail | None) -> Any:
        if rail is None:
            return None
        wrapped = self._wrapped.get(rail.name)
        if wrapped is None:
            wrapped = self._wrapped[rail.name] = TimedRail(rail)
        return wrapped

    def get(self, name: str) -> Rail | None:
        current_rail.set(name)
        return self._wrap(self._registry.get(name))  # type: ignore[no-any-return]

    def by_method(self, method: str) -> Rail | None:
        return self._wrap(self._registry.by_method(method))  # type: ignore[no-any-return]

    def methods(self) -> list[str]:
        return self._registry.methods()
