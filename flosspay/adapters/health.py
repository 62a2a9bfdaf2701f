"""Readiness: do the database and the broker answer right now?"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import redis


class Health:
    """Implements the HealthProbe port. Without a Redis URL the broker is in-process and always up."""

    def __init__(
        self,
        database_ok: Callable[[], bool],
        redis_url: str | None,
        dead_letters: Callable[[], int] | None = None,
        rail_problems: Mapping[str, str] | None = None,
        rails_running: int | None = None,
    ) -> None:
        """``dead_letters``: how many payments wait for an operator; ``rail_problems``: rails asked for
        that could not start (each makes readiness fail, by name); ``rails_running``: how many rails run
        (0 fails readiness: every payment would be refused)."""
        self._database_ok = database_ok
        self._redis = redis.Redis.from_url(redis_url, socket_connect_timeout=1, socket_timeout=1) if redis_url else None
        self._dead_letters = dead_letters
        self._rail_checks = {f"rail {name}": False for name in sorted(rail_problems or {})}
        if rails_running == 0 and not self._rail_checks:
            self._rail_checks["rails (none enabled)"] = False

    def check(self) -> dict[str, bool]:
        return {
            "database": self._safe(self._database_ok),
            "broker": self._safe(self._broker_ok),
            **self._rail_checks,
        }

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
