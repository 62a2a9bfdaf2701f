"""Helpers of the circuit breaker fault case: a UPI sandbox PSP that can fail on command and counts calls."""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping

from flosspay_upi.sandbox import UpiSandbox

from flosspay.railapi import Reply, SandboxRequest

HEALTHY = "healthy"
FAILING = "5xx"
HANGING = "hang"


class FaultyPsp(UpiSandbox):
    """The UPI sandbox, plus a ``mode``: answer 503 to every payment call, or hang ``hang_seconds`` and
    answer 504, without touching any account. Every payment call (submit or status) is timed."""

    name = "faulty-upi-psp"

    def __init__(self, settings: Mapping[str, str] | None = None, *, hang_seconds: float = 3.0) -> None:
        super().__init__(settings or {"slow_seconds": "0"})
        self.mode = HEALTHY
        self.hang_seconds = hang_seconds
        self._lock = threading.Lock()
        self._calls: list[float] = []

    def route(self, request: SandboxRequest) -> Reply | None:
        if request.parts[:2] != ("v1", "payments"):
            return super().route(request)  # debits and reset: the test's own look-ups
        with self._lock:
            self._calls.append(time.monotonic())
            mode = self.mode
        if mode == FAILING:
            return Reply(503, {"error": "PSP unavailable (fault injected)"})
        if mode == HANGING:
            return Reply(504, {"error": "PSP gateway timeout (fault injected)"}, delay_seconds=self.hang_seconds)
        return super().route(request)

    def calls_between(self, start: float, end: float) -> int:
        with self._lock:
            return sum(1 for t in self._calls if start <= t < end)

    @property
    def calls(self) -> int:
        with self._lock:
            return len(self._calls)

    def debited_references(self) -> list[str]:
        return [str(d["reference"]) for d in self.network.debits().body["debits"]]
