"""Readiness: do the database and the broker answer right now?"""

from __future__ import annotations

from collections.abc import Callable

import redis


class Health:
    """Implements the HealthProbe port. Without a Redis URL the broker is in-process and always up."""

    def __init__(
        self, database_ok: Callable[[], bool], redis_url: str | None, dead_letters: Callable[[], int] | None = None
    ) -> None:
        self._database_ok = database_ok
        self._redis = redis.Redis.from_url(redis_url, socket_connect_timeout=1, socket_timeout=1) if redis_url else None
        self._dead_letters = dead_letters

    def check(self) -> dict[str, bool]:
        return {"database": self._safe(self._database_ok), "broker": self._safe(self._broker_ok)}

    def counts(self) -> dict[str, int]:
        """The dead-letter count (parked payments), left out when the database cannot answer."""
        if self._dead_letters is None:
            return {}
        try:
            return {"dead letters": self._dead_letters()}
        except Exception:
            return {}

    def _broker_ok(self) -> bool:
        return True if self._redis is None else bool(self._redis.ping())

    @staticmethod
    def _safe(probe: Callable[[], bool]) -> bool:
        try:
            return probe()
        except Exception:  # any failure to answer is "down"
            return False
