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
    new_tat, _, decision = take_up_to(tat, now, limit, 1)
    return new_tat, decision


def take_up_to(
    tat: float | None, now: float, limit: BucketLimit, wanted: int
) -> tuple[float | None, int, BucketDecision]:
    """Take up to ``wanted`` tokens at once (an API process leasing a few): the new ``tat`` (None:
    unchanged), how many were granted, and the decision for the first of them (``remaining``
    counts what is left after all that were granted)."""
    interval = limit.interval
    tolerance = interval * limit.burst
    base = now if tat is None or tat < now else tat
    available = int((tolerance - (base - now)) / interval + EPSILON)
    if available < 1:  # float sums of intervals must not refuse a request that is on time: EPSILON
        return None, 0, BucketDecision(False, limit.burst, 0, base - now, base + interval - tolerance - now)
    granted = min(wanted, available)
    new_tat = base + granted * interval
    return new_tat, granted, BucketDecision(True, limit.burst, available - granted, new_tat - now)
