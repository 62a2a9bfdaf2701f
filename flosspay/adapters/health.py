"""Readiness: do the database and the broker answer right now?"""

from __future__ import annotations

from collections.abc import Callable

import redis


class Health:
    """Implements the HealthProbe port. Without a Redis URL the broker is in-process and always up."""

    def __init__(self, database_ok: Callable[[], bool], redis_url: str | None) -> None:
        self._database_ok = database_ok
        self._redis = redis.Redis.from_url(redis_url, socket_connect_timeout=1, socket_timeout=1) if redis_url else None

    def check(self) -> dict[str, bool]:
        return {"database": self._safe(self._database_ok), "broker": self._safe(self._broker_ok)}

    def _broker_ok(self) -> bool:
        return True if self._redis is None else bool(self._redis.ping())

    @staticmethod
    def _safe(probe: Callable[[], bool]) -> bool:
        try:
            return probe()
        except Exception:  # any failure to answer is "down"
            return False
