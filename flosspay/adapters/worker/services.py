"""What the worker needs from the composition root, gathered in one immutable object."""

from __future__ import annotations

from dataclasses import dataclass

from flosspay.application.breakers import CircuitBreakers
from flosspay.application.policies import ProcessingPolicy
from flosspay.domain.ports import Clock, RailRegistry, UnitOfWorkFactory


@dataclass(frozen=True)
class WorkerServices:
    """Ports, policy and tuning for actors and the relay; built once, shared by every worker thread.

    ``worker_id`` names this process in payment leases (each thread adds its own suffix).
    ``min_backoff_ms``/``max_backoff_ms`` bound the broker's retry delays; the ``relay_*`` values
    pace the outbox relay, its stalled sweeps and its chainer (ADR 0020). ``breakers``: the rails'
    circuit breakers (None: no breaker).
    """

    uow_factory: UnitOfWorkFactory
    rails: RailRegistry
    clock: Clock
    policy: ProcessingPolicy
    worker_id: str
    relay_interval_seconds: float = 0.1
    relay_batch: int = 200
    relay_recovery_interval_seconds: float = 5.0
    relay_chain_interval_seconds: float = 0.5
    min_backoff_ms: int = 500
    max_backoff_ms: int = 30_000
    breakers: CircuitBreakers | None = None

    def __post_init__(self) -> None:
        if self.policy.max_attempts < 1:
            raise ValueError("policy.max_attempts must be at least 1")
        if not 1 <= self.min_backoff_ms <= self.max_backoff_ms:
            raise ValueError("need 1 <= min_backoff_ms <= max_backoff_ms")
        if self.relay_interval_seconds <= 0 or self.relay_batch < 1:
            raise ValueError("relay_interval_seconds must be positive and relay_batch at least 1")
        if self.relay_recovery_interval_seconds < 0 or self.relay_chain_interval_seconds < 0:
            raise ValueError("relay_recovery_interval_seconds and relay_chain_interval_seconds must not be negative")
        if not self.worker_id:
            raise ValueError("worker_id must not be empty")

    @property
    def max_retries(self) -> int:
        """Broker retries after the first delivery, so attempts = retries + 1."""
        return self.policy.max_attempts - 1
