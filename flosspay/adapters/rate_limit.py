"""Per-client token buckets: in Redis for any number of API processes, or in this process.

Redis keeps one key per client, ``<namespace>:ratelimit:<client id>``, holding the GCRA
theoretical arrival time; one Lua script reads the Redis server's clock, decides and updates the
key, so every API process draws from the same bucket and no two can both take its last token.
The script is the arithmetic of ``flosspay.domain.bucket.take`` (tests check they agree). If Redis
does not answer, requests are limited by a bucket in this process for a second before Redis is
tried again: the intake keeps working while Redis is down (the outbox keeps payments safe).
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
import weakref
from collections.abc import Callable
from typing import Any

import redis.asyncio as aioredis

from flosspay.domain import bucket
from flosspay.domain.bucket import BucketDecision, BucketLimit

logger = logging.getLogger("flosspay.ratelimit")

GCRA_SCRIPT = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local interval = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local tolerance = interval * burst
local tat = tonumber(redis.call('GET', KEYS[1]))
local base = now
if tat and tat > now then base = tat end
local new_tat = base + interval
local allow_at = new_tat - tolerance
if now + 1e-9 < allow_at then
  return {0, 0, string.format('%.6f', base - now), string.format('%.6f', allow_at - now)}
end
redis.call('SET', KEYS[1], string.format('%.6f', new_tat), 'PX', math.ceil((new_tat - now) * 1000) + 1000)
local remaining = math.floor((tolerance - (new_tat - now)) / interval + 1e-9)
if remaining < 0 then remaining = 0 end
return {1, remaining, string.format('%.6f', new_tat - now), '0'}
"""

FALLBACK_SECONDS = 1.0


class InProcessRateLimiter:
    """Implements ``RateLimiter`` in memory (embedded server, or while Redis does not answer)."""

    def __init__(self, monotonic: Callable[[], float] = time.monotonic) -> None:
        self._now = monotonic
        self._tats: dict[str, float] = {}
        self._lock = threading.Lock()

    def take_now(self, client_id: str, limit: BucketLimit) -> BucketDecision:
        with self._lock:
            tat, decision = bucket.take(self._tats.get(client_id), self._now(), limit)
            if tat is not None:
                self._tats[client_id] = tat
        return decision

    async def take(self, client_id: str, limit: BucketLimit) -> BucketDecision:
        return self.take_now(client_id, limit)


class RedisRateLimiter:
    """Implements ``RateLimiter`` over Redis with the GCRA script (one round trip per request)."""

    def __init__(
        self,
        url: str,
        namespace: str = "flosspay",
        timeout_seconds: float = 0.5,
        fallback: InProcessRateLimiter | None = None,
    ) -> None:
        self._url = url
        self._timeout = timeout_seconds
        self._prefix = f"{namespace}:ratelimit:"
        self._fallback = fallback or InProcessRateLimiter()
        self._skip_until = 0.0
        # An asyncio Redis client belongs to the event loop that made it: one per loop.
        self._per_loop: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, Any] = weakref.WeakKeyDictionary()

    def key(self, client_id: str) -> str:
        return self._prefix + client_id

    def _script(self) -> Any:
        loop = asyncio.get_running_loop()
        script = self._per_loop.get(loop)
        if script is None:
            client = aioredis.Redis.from_url(
                self._url, socket_connect_timeout=self._timeout, socket_timeout=self._timeout
            )
            script = client.register_script(GCRA_SCRIPT)
            self._per_loop[loop] = script
        return script

    async def take(self, client_id: str, limit: BucketLimit) -> BucketDecision:
        if time.monotonic() < self._skip_until:
            return self._fallback.take_now(client_id, limit)
        try:
            allowed, remaining, reset_after, retry_after = await self._script()(
                keys=[self.key(client_id)], args=[repr(limit.interval), limit.burst]
            )
        except Exception as exc:  # Redis down or slow: limit in this process for a while
            self._skip_until = time.monotonic() + FALLBACK_SECONDS
            logger.warning("rate limit store unavailable (%s); limiting in this process", type(exc).__name__)
            return self._fallback.take_now(client_id, limit)
        return BucketDecision(bool(allowed), limit.burst, int(remaining), float(reset_after), float(retry_after))


def build_rate_limiter(settings: Any) -> InProcessRateLimiter | RedisRateLimiter | None:
    """Redis when FlossPay has one, else in-process; None when ``FLOSSPAY_RATE_LIMIT=off``."""
    if not settings.rate_limit.enabled:
        return None
    if settings.broker.redis_url is None:
        return InProcessRateLimiter()
    return RedisRateLimiter(settings.broker.redis_url, settings.broker.namespace)
