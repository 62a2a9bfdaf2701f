"""Run the worker in this process: embedded beside the API (``flosspay serve``) or on its own
(``flosspay worker``), so the composition root stays in one place instead of the dramatiq CLI.
"""

from __future__ import annotations

import logging
import signal
import threading
from types import FrameType
from typing import Protocol

import dramatiq
from dramatiq import Broker

from flosspay.adapters.worker.actors import PAYMENTS_QUEUE, ProcessActor, declare_actors
from flosspay.adapters.worker.relay_loop import RelayLoop
from flosspay.adapters.worker.services import WorkerServices
from flosspay.adapters.worker.task_queue import DramatiqTaskQueue
from flosspay.application.ledger_chain import Chainer

logger = logging.getLogger("flosspay.worker")


class Startable(Protocol):
    def start(self) -> None: ...

    def stop(self, timeout: float = ...) -> None: ...


DEFAULT_WORKER_TIMEOUT_MS = 1000
DEFAULT_STOP_TIMEOUT_S = 30.0


class EmbeddedWorker:
    """Dramatiq worker threads plus the relay loop, started and stopped together.

    Declares the actors on ``broker``, so give each EmbeddedWorker a broker of its own.
    """

    def __init__(
        self,
        services: WorkerServices,
        broker: Broker,
        *,
        threads: int = 4,
        worker_timeout_ms: int = DEFAULT_WORKER_TIMEOUT_MS,
        relay: bool = True,
        chainer: Chainer | None = None,
        webhooks: Startable | None = None,
    ) -> None:
        """``chainer``: the ledger chaining step the relay runs (the container's, with its signing key).
        ``webhooks``: the webhook delivery loop, started and stopped with the worker (issue 12)."""
        if threads < 1:
            raise ValueError("threads must be at least 1")
        self.services = services
        self.broker = broker
        self.threads = threads
        self.worker_timeout_ms = worker_timeout_ms
        self.actor: ProcessActor = declare_actors(broker, services)
        self.queue = DramatiqTaskQueue(self.actor, services.clock)
        self.relay: RelayLoop | None = RelayLoop(services, self.queue, chainer=chainer) if relay else None
        self._worker: dramatiq.Worker | None = None
        self.webhooks = webhooks

    @property
    def running(self) -> bool:
        return self._worker is not None

    def start(self) -> None:
        if self._worker is not None:
            return
        worker = dramatiq.Worker(self.broker, worker_threads=self.threads, worker_timeout=self.worker_timeout_ms)
        worker.start()
        self._worker = worker
        if self.relay is not None:
            self.relay.start()
        if self.webhooks is not None:
            self.webhooks.start()
        logger.info(
            "worker %s started: %d threads on queue %r (%s)",
            self.services.worker_id,
            self.threads,
            PAYMENTS_QUEUE,
            type(self.broker).__name__,
        )

    def stop(self, timeout_s: float = DEFAULT_STOP_TIMEOUT_S) -> None:
        """Stop relaying first, then let in-flight messages finish (unstarted ones go back to the queue)."""
        if self.relay is not None:
            self.relay.stop(timeout_s)
        if self.webhooks is not None:
            self.webhooks.stop(timeout_s)
        worker, self._worker = self._worker, None
        if worker is not None:
            worker.stop(timeout=int(timeout_s * 1000))
            logger.info("worker %s stopped", self.services.worker_id)


def run_worker(
    services: WorkerServices,
    broker: Broker,
    threads: int,
    *,
    stop_event: threading.Event | None = None,
    stop_timeout_s: float = DEFAULT_STOP_TIMEOUT_S,
    chainer: Chainer | None = None,
    webhooks: Startable | None = None,
) -> int:
    """Run until SIGTERM/SIGINT (or ``stop_event``), then shut down gracefully; returns the exit code."""
    stop = stop_event or threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        logger.info("received %s, shutting down", signal.Signals(signum).name)
        stop.set()

    previous: dict[signal.Signals, object] = {}
    if threading.current_thread() is threading.main_thread():
        for sig in (signal.SIGTERM, signal.SIGINT):
            previous[sig] = signal.signal(sig, on_signal)
    worker = EmbeddedWorker(services, broker, threads=threads, chainer=chainer, webhooks=webhooks)
    try:
        worker.start()
        while not stop.wait(0.5):
            pass
    finally:
        worker.stop(stop_timeout_s)
        for sig, handler in previous.items():
            signal.signal(sig, handler)  # type: ignore[arg-type]
    return 0
