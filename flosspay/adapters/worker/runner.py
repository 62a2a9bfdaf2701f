"""Run the worker in this process: embedded beside the API (``flosspay serve``) or on its own
(``flosspay worker``), so the composition root stays in one place instead of the dramatiq CLI.
"""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Callable
from types import FrameType
from typing import Protocol

import dramatiq
import pika.exceptions
import redis
from dramatiq import Broker
from dramatiq.errors import BrokerConnectionError

from flosspay.adapters.worker.actors import ProcessActor, declare_actors, payments_queue
from flosspay.adapters.worker.refund_actor import RefundRoutingQueue, declare_refund_actor
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
        self.refund_actor = declare_refund_actor(broker, services)  # issue 13: refunds share the pool
        self.queue = RefundRoutingQueue(
            DramatiqTaskQueue(self.actor, services.clock), self.refund_actor, services.clock
        )
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
            payments_queue(self.broker),
            type(self.broker).__name__,
        )

    def stop(self, timeout_s: float = DEFAULT_STOP_TIMEOUT_S) -> None:
        """Stop relaying first, then let in-flight messages finish (unstarted ones go back to the queue),
        then store the breaker successes still counted only here (ADR 0015 batches them)."""
        if self.relay is not None:
            self.relay.stop(timeout_s)
        if self.webhooks is not None:
            self.webhooks.stop(timeout_s)
        worker, self._worker = self._worker, None
        if worker is not None:
            worker.stop(timeout=int(timeout_s * 1000))
            if self.services.breakers is not None:
                self.services.breakers.flush()  # never raises: a store that does not answer is logged
            logger.info("worker %s stopped", self.services.worker_id)


class BrokerWatch:
    """Whether the broker answers, told once per outage instead of a CRITICAL line every 3 s.

    Dramatiq's consumers reconnect on their own every few seconds and log each failure at CRITICAL;
    this filter lets the first one of an outage through as a one-line WARNING and drops the rest
    (and their "Restarting consumer" lines) until a ping succeeds again.
    """

    def __init__(self, ping: Callable[[], object] | None, where: str) -> None:
        self.ping = ping
        self.where = where
        self.up = True
        self._told = False

    def check(self) -> bool:
        if self.ping is None:
            return True
        try:
            self.ping()
        except Exception as exc:
            self._down(type(exc).__name__)
            return False
        if not self.up:
            logger.warning("broker at %s answers again", self.where)
        self.up, self._told = True, False
        return True

    def _down(self, why: str) -> None:
        self.up = False
        if not self._told:
            self._told = True
            logger.warning("broker at %s unreachable (%s); retrying with backoff", self.where, why)

    def wait_until_up(self, stop: threading.Event, first_delay_s: float = 0.5, max_delay_s: float = 30.0) -> bool:
        """Ping with exponential backoff until the broker answers (True) or ``stop`` is set (False)."""
        delay = first_delay_s
        while not self.check():
            if stop.wait(delay):
                return False
            delay = min(max_delay_s, delay * 2)
        return True

    def filter(self, record: logging.LogRecord) -> bool:
        """A ``logging`` filter for Dramatiq's consumer and broker loggers: broker connection errors
        (the consumers' CRITICAL reconnect lines, failed acks and retry sends) become our one line."""
        error = record.exc_info[1] if record.exc_info else None
        connection_errors = (
            redis.ConnectionError,
            redis.TimeoutError,
            pika.exceptions.AMQPError,
            BrokerConnectionError,
        )
        if isinstance(error, connection_errors) or "connection error" in record.getMessage():
            self._down("connection error")
            return False
        return not ("Restarting consumer" in record.getMessage() and not self.up)


def _consumer_loggers(broker: Broker) -> list[logging.Logger]:
    queue = payments_queue(broker)
    consumers = [f"dramatiq.worker.ConsumerThread({q})" for q in (queue, f"{queue}.DQ")]
    return [logging.getLogger(name) for name in (*consumers, f"dramatiq.broker.{type(broker).__name__}")]


def _broker_ping(broker: Broker) -> Callable[[], object] | None:
    """How to ask the broker whether it answers: Redis's PING, a fresh AMQP connection; None for the stub."""
    ping = getattr(broker, "ping", None)
    if callable(ping):
        return ping  # type: ignore[no-any-return]
    client = getattr(broker, "client", None)
    return client.ping if client is not None else None


def _redacted_location(broker: Broker) -> str:
    url = getattr(broker, "url", None)
    if isinstance(url, str):
        from urllib.parse import urlsplit

        parts = urlsplit(url)
        return f"{parts.hostname or '?'}:{parts.port or 5672}"
    client = getattr(broker, "client", None)
    kwargs = getattr(getattr(client, "connection_pool", None), "connection_kwargs", {})
    return f"{kwargs.get('host', '?')}:{kwargs.get('port', '?')}" if kwargs else type(broker).__name__


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
    watch = BrokerWatch(_broker_ping(broker), _redacted_location(broker))
    loggers = _consumer_loggers(broker)
    for consumer_logger in loggers:
        consumer_logger.addFilter(watch.filter)
    worker = EmbeddedWorker(services, broker, threads=threads, chainer=chainer, webhooks=webhooks)
    try:
        if not watch.wait_until_up(stop):
            return 0
        worker.start()
        ticks = 0
        while not stop.wait(0.5):
            ticks += 1
            if not watch.up or ticks % 10 == 0:  # notice an outage's end (and a quiet one's start)
                watch.check()
    finally:
        worker.stop(stop_timeout_s)
        for consumer_logger in loggers:
            consumer_logger.removeFilter(watch.filter)
        for sig, handler in previous.items():
            signal.signal(sig, handler)  # type: ignore[arg-type]
    return 0
