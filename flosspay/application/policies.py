"""Tunable rules of the use cases, filled from settings by the composition root."""

from __future__ import annotations

from datetime import timedelta

import msgspec


class IntakePolicy(msgspec.Struct, frozen=True):
    idempotency_ttl: timedelta = timedelta(hours=24)
    collect_default_minutes: int = 30
    collect_max_minutes: int = 64800


class ProcessingPolicy(msgspec.Struct, frozen=True):
    """How the worker treats a payment: attempts before giving up, lease length, collect polling."""

    max_attempts: int = 5
    lease: timedelta = timedelta(seconds=30)
    poll_interval: timedelta = timedelta(seconds=2)
    stall_after: timedelta = timedelta(minutes=5)
    # Longest a broker retry may take to come back (max backoff + a lease): past it, the sweep resends.
    retry_window: timedelta = timedelta(seconds=60)
