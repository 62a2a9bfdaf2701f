"""A background thread that keeps the outbox flowing: relay, stalled-lease recovery, idempotency purge,
and the ledger's chainer (links committed history rows and entries into the hash chain).

It must outlive any outage: a failing step is logged once, retried with backoff, and the loop goes on.
Only the relay runs every pass. The recovery sweeps and the purge are safety nets and run every few
seconds; the chainer runs again at once while it finds full batches, else every ``chain_interval``,
which bounds the chain's lag without a horizon scan every pass of an idle worker (ADR 0020).
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field

from flosspay.adapters.worker.services import WorkerServices
from flosspay.application.ledger_chain import Chainer
from flosspay.application.refund_relay import recover_stalled_refunds
from flosspay.application.relay import recover_stalled, relay_outbox
from flosspay.domain.ports import TaskQueue

logger = logging.getLogger("flosspay.relay")


@dataclass
class RelayPass:
    """What one pass did; ``errors`` holds ``step: ExceptionType`` for each step that failed."""

    sent: int = 0
    recovered: int = 0
    purged: int = 0
    chained: int = 0
    errors: list[str] = field(default_factory=list)


def recovery_interval(services: WorkerServices) -> float:
    """Seconds between stalled sweeps: the configured value, but at most a third of the lease and of
    ``stall_after``, so a payment is found at most a third of that later than it becomes stalled."""
    policy = services.policy
    shortest = min(policy.lease, policy.stall_after).total_seconds()
    return min(services.relay_recovery_interval_seconds, shortest / 3)


class RelayLoop:
    """Runs ``run_once`` over and over in a daemon thread until ``stop``."""

    def __init__(
        self,
        services: WorkerServices,
        queue: TaskQueue,
        *,
        purge_interval_seconds: float = 60.0,
        purge_batch: int = 1000,
        max_error_backoff_seconds: float = 5.0,
        chainer: Chainer | None = None,
    ) -> None:
        """``chainer``: the ledger chaining step (default: unsigned checkpoints every 1000 records)."""
        self.services = services
        self.chainer = chainer or Chainer(services.uow_factory, services.clock)
        self.queue = queue
        self.purge_interval_seconds = purge_interval_seconds
        self.purge_batch = purge_batch
        self.max_error_backoff_seconds = max_error_backoff_seconds
        self.recovery_interval_seconds = recovery_interval(services)
        self.chain_interval_seconds = services.relay_chain_interval_seconds
        self.failures = 0
        # Monotonic times each step is next due; zero: the first pass runs them all.
        self._next_purge = 0.0
        self._next_recovery = 0.0
        self._next_chain = 0.0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def start(self) -> None:
        if self.running:
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="flosspay-relay", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    def run_once(self) -> RelayPass:
        """Relay due outbox rows; recover stalled payments and refunds, chain the ledger and purge expired
        keys when each is due; never raises. A failed step is due again on the next pass."""
        result = RelayPass()
        services = self.services
        if time.monotonic() >= self._next_recovery:
            self._recover(result)
        try:
            result.sent = relay_outbox(
                uow_factory=services.uow_factory, queue=self.queue, clock=services.clock, batch=services.relay_batch
            )
        except Exception as exc:
            result.errors.append(f"relay: {type(exc).__name__}")
        if time.monotonic() >= self._next_chain:
            try:
                # Every process tries; the one holding the chainer lock does the work, the rest skip.
                result.chained = self.chainer().chained
                if result.chained < self.chainer.policy.batch:  # caught up: come back in a while
                    self._next_chain = time.monotonic() + self.chain_interval_seconds
            except Exception as exc:
                result.errors.append(f"chain: {type(exc).__name__}")
        if time.monotonic() >= self._next_purge:
            try:
                result.purged = self._purge()
                self._next_purge = time.monotonic() + self.purge_interval_seconds
            except Exception as exc:
                result.errors.append(f"purge: {type(exc).__name__}")
        return result

    def _recover(self, result: RelayPass) -> None:
        services = self.services
        failed = len(result.errors)
        try:
            result.recovered = recover_stalled(
                uow_factory=services.uow_factory,
                clock=services.clock,
                batch=services.relay_batch,
                idle_after=services.policy.stall_after,
            )
        except Exception as exc:
            result.errors.append(f"recovery: {type(exc).__name__}")
        try:  # issue 13: refunds whose worker died or whose message was lost, same rules
            result.recovered += recover_stalled_refunds(
                uow_factory=services.uow_factory,
                clock=services.clock,
                batch=services.relay_batch,
                idle_after=services.policy.stall_after,
            )
        except Exception as exc:
            result.errors.append(f"refund recovery: {type(exc).__name__}")
        if len(result.errors) == failed and result.recovered < services.relay_batch:
            # A full batch means more are waiting: sweep again next pass.
            self._next_recovery = time.monotonic() + self.recovery_interval_seconds

    def _purge(self) -> int:
        with self.services.uow_factory() as uow:
            purged = uow.idempotency.purge_expired(self.services.clock.now(), self.purge_batch)
            uow.commit()
        return purged

    def _run(self) -> None:
        interval = self.services.relay_interval_seconds
        while not self._stop.is_set():
            try:
                result = self.run_once()
            except Exception as exc:  # run_once catches per step; this guards the loop itself
                result = RelayPass(errors=[f"loop: {type(exc).__name__}"])
            if result.errors:
                self.failures += 1
                delay = min(self.max_error_backoff_seconds, interval * 2 ** min(self.failures, 20))
                if self.failures == 1:
                    logger.warning("relay: %s; retrying with backoff", ", ".join(result.errors))
                else:
                    logger.debug("relay: still failing (%s)", ", ".join(result.errors))
                self._stop.wait(delay)
                continue
            if self.failures:
                logger.info("relay: working again after %d failed passes", self.failures)
                self.failures = 0
            busy = (
                result.sent >= self.services.relay_batch
                or result.recovered > 0
                or result.chained >= self.chainer.policy.batch
            )
            if not busy:
                self._stop.wait(interval)
