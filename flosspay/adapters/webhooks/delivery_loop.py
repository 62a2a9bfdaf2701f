"""The background thread that delivers webhooks, in the worker and in ``flosspay serve``.

A pass claims a batch and sends it on a small thread pool, so one slow endpoint holds one thread
for at most the timeout; its breaker then keeps it out of later batches. A failing pass (database
down) is logged once and retried with backoff: the loop never dies.
"""

from __future__ import annotations

import logging
import threading
from concurrent.futures import ThreadPoolExecutor

from flosspay.adapters import metrics
from flosspay.adapters.webhooks.sender import HttpxSender
from flosspay.application.webhook_delivery import deliver_due
from flosspay.domain.ports import Clock
from flosspay.domain.webhook_ports import WebhookSender, WebhookUnitOfWorkFactory
from flosspay.domain.webhooks import WebhookPolicy

logger = logging.getLogger("flosspay.webhooks")


class WebhookDeliveryLoop:
    def __init__(
        self,
        uow_factory: WebhookUnitOfWorkFactory,
        clock: Clock,
        policy: WebhookPolicy,
        sender: WebhookSender | None = None,
        max_error_backoff_seconds: float = 5.0,
    ) -> None:
        self.uow_factory = uow_factory
        self.clock = clock
        self.policy = policy
        self.sender = sender or HttpxSender(policy)
        self.max_error_backoff_seconds = max_error_backoff_seconds
        self.failures = 0
        self.delivered = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._pool: ThreadPoolExecutor | None = None

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def start(self) -> None:
        if self.running:
            return
        self._stop.clear()
        self._pool = ThreadPoolExecutor(max_workers=self.policy.concurrency, thread_name_prefix="flosspay-webhook")
        self._thread = threading.Thread(target=self._run, name="flosspay-webhooks", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        """Finish the pass in flight (its sends end within the timeout), then stop."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = None

    def run_once(self) -> int:
        pool = self._pool
        return deliver_due(
            uow_factory=self.uow_factory,
            sender=self.sender,
            clock=self.clock,
            policy=self.policy,
            map_=pool.map if pool is not None else map,
            observe=metrics.webhook_attempt,
        )

    def _run(self) -> None:
        interval = self.policy.poll_interval.total_seconds()
        while not self._stop.is_set():
            try:
                sent = self.run_once()
            except Exception as exc:  # a pass failed (database down, ...): back off, keep going
                self.failures += 1
                if self.failures == 1:
                    logger.warning("webhook delivery: %s; retrying with backoff", type(exc).__name__)
                self._stop.wait(min(self.max_error_backoff_seconds, interval * 2 ** min(self.failures, 20)))
                continue
            if self.failures:
                logger.info("webhook delivery: working again after %d failed passes", self.failures)
                self.failures = 0
            self.delivered += sent
            if sent < self.policy.batch:
                self._stop.wait(interval)
