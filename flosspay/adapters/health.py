"""Readiness: do the database and the broker answer right now?"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping

import pika
import redis

AMQP_PROBE_CACHE_S = 1.0


def amqp_probe(url: str) -> Callable[[], bool]:
    """Whether RabbitMQ accepts a connection, asked at most once a second (a probe opens a connection)."""
    parameters = pika.URLParameters(url)
    parameters.socket_timeout = 1
    parameters.blocked_connection_timeout = 1
    parameters.connection_attempts = 1
    last: list[float] = [0.0]
    answer: list[bool] = [False]

    def probe() -> bool:
        now = time.monotonic()
        if now - last[0] < AMQP_PROBE_CACHE_S:
            return answer[0]
        try:
            pika.BlockingConnection(parameters).close()
            answer[0] = True
        except Exception:
            answer[0] = False
        last[0] = now
        return answer[0]

    return probe


class Health:
    """Implements the HealthProbe port. Without a broker URL the broker is in-process and always up.

    ``redis_url`` is the broker's URL: ``redis://`` is pinged, ``amqp://`` (RabbitMQ) gets a connection.
    """

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
        self._redis: redis.Redis | None = None
        self._amqp: Callable[[], bool] | None = None
        if redis_url and redis_url.startswith(("amqp://", "amqps://")):
            self._amqp = amqp_probe(redis_url)
        elif redis_url:
            self._redis = redis.Redis.from_url(redis_url, socket_connect_timeout=1, socket_timeout=1)
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
        if self._amqp is not None:
            return self._amqp()
        return True if self._redis is None else bool(self._redis.ping())

    @staticmethod
    def _safe(probe: Callable[[], bool]) -> bool:
        try:
            return probe()
        except Exception:  # any failure to answer is "down"
            return False
