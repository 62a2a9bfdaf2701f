"""Rate limit rules (ClientRateLimit): a token bucket per client, computed as GCRA.

GCRA keeps one number per client, the theoretical arrival time (``tat``) of the next request at
the sustained rate; a request is allowed while it is not more than ``burst`` intervals early. That
is exactly a bucket of ``burst`` tokens refilled at ``rate`` per second, in one value that a Redis
script can update atomically (``adapters/rate_limit.py`` runs the same arithmetic in Lua).
"""

from __future__ import annotations

import math

import msgspec

DEFAULT_RATE = 100.0
DEFAULT_BURST = 200
MAX_RATE = 1_000_000.0
MAX_BURST = 10_000_000
EPSILON = 1e-9


class BucketLimit(msgspec.Struct, frozen=True):
    """``rate`` tokens per second refill a bucket holding at most ``burst`` tokens."""

    rate: float = DEFAULT_RATE
    burst: int = DEFAULT_BURST

    def __post_init__(self) -> None:
        if not (math.isfinite(self.rate) and 0 < self.rate <= MAX_RATE):
            raise ValueError(f"rate must be a positive number of requests per second up to {MAX_RATE:g}")
        if not 1 <= self.burst <= MAX_BURST:
            raise ValueError(f"burst must be between 1 and {MAX_BURST}")

    @property
    def interval(self) -> float:
        """Seconds one token takes to refill."""
        return 1.0 / self.rate


class BucketDecision(msgspec.Struct, frozen=True):
    """``remaining``: tokens left; ``reset_after``: seconds until the bucket is full again;
    ``retry_after``: seconds until one token is back (0 when allowed)."""

    allowed: bool
    limit: int
    remaining: int
    reset_after: float
    retry_after: float = 0.0


def take(tat: float | None, now: float, limit: BucketLimit) -> tuple[float | None, BucketDecision]:
    """One request at ``now`` (seconds): the new ``tat`` to store (None: unchanged) and the decision."""
    interval = limit.interval
    tolerance = interval * limit.burst
    base = now if tat is None or tat < now else tat
    new_tat = base + interval
    allow_at = new_tat - tolerance
    if now + EPSILON < allow_at:  # float sums of intervals must not refuse a request that is on time
        return None, BucketDecision(False, limit.burst, 0, base - now, allow_at - now)
    remaining = int((tolerance - (new_tat - now)) / interval + 1e-9)
    return new_tat, BucketDecision(True, limit.burst, max(remaining, 0), new_tat - now)
