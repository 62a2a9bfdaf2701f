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
local wanted = tonumber(ARGV[3])
local tolerance = interval * burst
local tat = tonumber(redis.call('GET', KEYS[1]))
local base = now
if tat and tat > now then base = tat end
local available = math.floor((tolerance - (base - now)) / interval + 1e-9)
if available < 1 then
  return {0, 0, string.format('%.6f', base - now), string.format('%.6f', base + interval - tolerance - now)}
end
local granted = math.min(wanted, available)
local new_tat = base + granted * interval
redis.call('SET', KEYS[1], string.format('%.6f', new_tat), 'PX', math.ceil((new_tat - now) * 1000) + 1000)
return {granted, available - granted, string.format('%.6f', new_tat - now), '0'}
"""

FALLBACK_SECONDS = 1.0
LEASE_SECONDS = 0.1
LEASE_MAX = 50


def lease_size(limit: BucketLimit) -> int:
    """Tokens an API process takes from Redis at once: what the client refills in ``LEASE_SECONDS``,
    at most a twentieth of its burst and ``LEASE_MAX``, at least one (a slow client: one at a time)."""
    return max(1, min(LEASE_MAX, limit.burst // 20, int(limit.rate * LEASE_SECONDS)))


class _Lease:
    """Tokens this process already took from a client's bucket, and until when they may be spent."""

    __slots__ = ("refused_until", "remaining", "reset_at", "tokens", "until")

    def __init__(self) -> None:
        self.tokens = 0
        self.until = 0.0
        self.remaining = 0
        self.reset_at = 0.0
        self.refused_until = 0.0


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
    """Implements ``RateLimiter`` over Redis with the GCRA script.

    A round trip per request would cost more than the rest of the check (measured, ADR 0008), so
    each process takes a few tokens at once (``lease_size``) and spends them for at most
    ``LEASE_SECONDS``: tokens are only ever taken from the shared bucket, never created, so the
    limit still holds across processes (an unspent lease makes it a little stricter, never looser).
    A refusal is remembered until its ``Retry-After``: the shared bucket cannot refill sooner, so a
    flood is refused without asking Redis.
    """

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
        self._leases: dict[str, _Lease] = {}
        self.round_trips = 0

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
        now = time.monotonic()
        lease = self._leases.get(client_id)
        if lease is not None:
            if lease.tokens > 0 and now < lease.until:
                lease.tokens -= 1
                return BucketDecision(True, limit.burst, lease.remaining + lease.tokens, max(lease.reset_at - now, 0.0))
            if now < lease.refused_until:
                return BucketDecision(False, limit.burst, 0, max(lease.reset_at - now, 0.0), lease.refused_until - now)
        if now < self._skip_until:
            return self._fallback.take_now(client_id, limit)
        wanted = lease_size(limit)
        try:
            self.round_trips += 1
            granted, remaining, reset_after, retry_after = await self._script()(
                keys=[self.key(client_id)], args=[repr(limit.interval), limit.burst, wanted]
            )
        except Exception as exc:  # Redis down or slow: limit in this process for a while
            self._skip_until = time.monotonic() + FALLBACK_SECONDS
            logger.warning("rate limit store unavailable (%s); limiting in this process", type(exc).__name__)
            return self._fallback.take_now(client_id, limit)
        granted, remaining, reset, retry = int(granted), int(remaining), float(reset_after), float(retry_after)
        if len(self._leases) >= 100_000:
            self._leases.clear()
        lease = self._leases.setdefault(client_id, _Lease())
        lease.tokens, lease.until, lease.remaining, lease.reset_at = (
            granted - 1,
            now + LEASE_SECONDS,
            remaining,
            now + reset,
        )
        lease.refused_until = now + retry if granted == 0 else 0.0
        if granted == 0:
            lease.tokens = 0
            return BucketDecision(False, limit.burst, 0, reset, retry)
        return BucketDecision(True, limit.burst, remaining + lease.tokens, reset)


def build_rate_limiter(settings: Any) -> InProcessRateLimiter | RedisRateLimiter | None:
    """Redis when FlossPay has one, else in-process; None when ``FLOSSPAY_RATE_LIMIT=off``."""
    if not settings.rate_limit.enabled:
        return None
    if settings.broker.redis_url is None:
        return InProcessRateLimiter()
    return RedisRateLimiter(settings.broker.redis_url, settings.broker.namespace)
