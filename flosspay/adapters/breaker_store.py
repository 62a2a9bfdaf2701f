"""Where circuit breakers are kept: a Redis hash per service shared by every worker, or in-process.

Redis: ``<namespace>:breaker:<service>`` holds the breaker's fields as readable strings
(``redis-cli HGETALL flosspay:breaker:upi``). A Lua script swaps the whole hash only while its
``version`` is the one the change was computed from, so concurrent workers never lose an update.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable
from datetime import datetime

import redis

from flosspay.adapters import metrics
from flosspay.domain.breaker import Breaker, BreakerState
from flosspay.domain.ports import BreakerStore

_SWAP = """
local current = redis.call('HGET', KEYS[1], 'version')
if (current or '0') ~= ARGV[1] then
  return 0
end
redis.call('HSET', KEYS[1], unpack(ARGV, 2))
return 1
"""

_TIMES = ("window_start", "last_failure", "opened_at", "half_open_at")
_COUNTS = ("failures", "calls", "probes", "probe_successes", "version")


def _fields(breaker: Breaker) -> list[str]:
    values = [("service", breaker.service), ("state", breaker.state.value)]
    values += [(name, str(getattr(breaker, name))) for name in _COUNTS]
    for name in _TIMES:
        moment: datetime | None = getattr(breaker, name)
        values.append((name, moment.isoformat() if moment is not None else ""))
    return [item for pair in values for item in pair]


def _breaker(service: str, raw: dict[bytes, bytes]) -> Breaker:
    if not raw:
        return Breaker(service)
    text = {k.decode(): v.decode() for k, v in raw.items()}
    counts = {name: int(text.get(name) or 0) for name in _COUNTS}
    times = {name: datetime.fromisoformat(text[name]) if text.get(name) else None for name in _TIMES}
    return Breaker(service, BreakerState(text.get("state") or "CLOSED"), **counts, **times)  # type: ignore[arg-type]


class RedisBreakerStore:
    """Implements ``BreakerStore`` over Redis; every worker process sees and changes the same breakers."""

    def __init__(self, url: str, namespace: str = "flosspay", timeout_seconds: float = 1.0) -> None:
        self._redis = redis.Redis.from_url(url, socket_connect_timeout=timeout_seconds, socket_timeout=timeout_seconds)
        self._prefix = f"{namespace}:breaker:"
        self._swap = self._redis.register_script(_SWAP)

    def key(self, service: str) -> str:
        return self._prefix + service

    def load(self, service: str) -> Breaker:
        raw: dict[bytes, bytes] = self._redis.hgetall(self.key(service))  # type: ignore[assignment]
        return _breaker(service, raw)

    def swap(self, expected_version: int, breaker: Breaker) -> bool:
        return bool(self._swap(keys=[self.key(breaker.service)], args=[str(expected_version), *_fields(breaker)]))

    def close(self) -> None:
        self._redis.close()


class InProcessBreakerStore:
    """Implements ``BreakerStore`` in memory, for the embedded server (one process)."""

    def __init__(self) -> None:
        self._breakers: dict[str, Breaker] = {}
        self._lock = threading.Lock()

    def load(self, service: str) -> Breaker:
        return self._breakers.get(service) or Breaker(service)

    def swap(self, expected_version: int, breaker: Breaker) -> bool:
        with self._lock:
            current = self._breakers.get(breaker.service)
            if (current.version if current is not None else 0) != expected_version:
                return False
            self._breakers[breaker.service] = breaker
            return True


DEFAULT_READ_TTL_SECONDS = 0.25


class CachedBreakerStore:
    """Implements ``BreakerStore`` over a shared one, keeping the last breaker this process read or stored.

    The worker asks its breaker twice per payment (acquire, record), each a load and usually a swap:
    three Redis round trips per payment, ~15% of the worker's CPU (ADR 0015). Here a load younger
    than ``ttl_seconds`` is answered from memory, and every successful swap updates it. Nothing is
    lost: a change is still a compare-and-swap on the shared version, so a stale copy only makes the
    swap fail, which drops the copy, and the caller's retry loads afresh. What the copy delays is
    seeing *another process's* change (a breaker opened elsewhere) by at most ``ttl_seconds``.
    """

    def __init__(
        self,
        store: BreakerStore,
        ttl_seconds: float = DEFAULT_READ_TTL_SECONDS,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.store = store
        self.ttl_seconds = ttl_seconds
        self._monotonic = monotonic
        self._copies: dict[str, tuple[float, Breaker]] = {}
        self._lock = threading.Lock()

    def load(self, service: str) -> Breaker:
        now = self._monotonic()
        with self._lock:
            copy = self._copies.get(service)
        if copy is not None and now - copy[0] < self.ttl_seconds:
            return copy[1]
        breaker = self.store.load(service)
        self._keep(service, now, breaker)
        return breaker

    def swap(self, expected_version: int, breaker: Breaker) -> bool:
        try:
            stored = self.store.swap(expected_version, breaker)
        except Exception:
            self.forget(breaker.service)
            raise
        if stored:
            self._keep(breaker.service, self._monotonic(), breaker)
        else:
            self.forget(breaker.service)  # someone else changed it: the next load asks the store
        return stored

    def forget(self, service: str) -> None:
        with self._lock:
            self._copies.pop(service, None)

    def _keep(self, service: str, at: float, breaker: Breaker) -> None:
        with self._lock:
            self._copies[service] = (at, breaker)  # a copy that lost a race only makes one swap fail

    def close(self) -> None:
        close = getattr(self.store, "close", None)
        if close is not None:
            close()


class MeteredBreakerStore:
    """Implements ``BreakerStore`` over another one, keeping ``flosspay_breaker_state`` per rail up to date
    with every breaker this process reads or stores (each acquire, record and snapshot reads it, every
    transition is stored), and, at start, with what the store holds for each running rail (a store that
    does not answer shows CLOSED until it does). A service ``rail/host`` counts for its rail."""

    def __init__(self, store: BreakerStore, rails: Iterable[str] = ()) -> None:
        self.store = store
        for rail in rails:
            try:
                self.load(rail)
            except Exception:  # the store is down: the next read will tell
                metrics.breaker_state(rail, BreakerState.CLOSED.value)

    def load(self, service: str) -> Breaker:
        breaker = self.store.load(service)
        metrics.breaker_state(service.split("/", 1)[0], breaker.state.value)
        return breaker

    def swap(self, expected_version: int, breaker: Breaker) -> bool:
        stored = self.store.swap(expected_version, breaker)
        if stored:
            metrics.breaker_state(breaker.service.split("/", 1)[0], breaker.state.value)
        return stored

    def close(self) -> None:
        close = getattr(self.store, "close", None)
        if close is not None:
            close()
