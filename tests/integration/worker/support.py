"""Helpers for the worker tests: fake ports wired into WorkerServices, payments, waiting, running."""

from __future__ import annotations

import select
import socket
import socketserver
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from urllib.parse import urlsplit, urlunsplit

import redis
from dramatiq import Broker

from flosspay.adapters.clock import SystemClock
from flosspay.adapters.http.payments import HTTP_INTAKE
from flosspay.adapters.worker.broker import build_broker
from flosspay.adapters.worker.runner import EmbeddedWorker
from flosspay.adapters.worker.services import WorkerServices
from flosspay.application.accept_payment import PaymentIntent, accept_payment
from flosspay.application.policies import IntakePolicy, ProcessingPolicy
from flosspay.domain.payment import Flow, Payment
from flosspay.domain.ports import Clock
from flosspay.domain.rail import Rail
from tests.fakes import FakeRailRegistry, FakeUnitOfWorkFactory

# Fast pick-up in tests: consumers poll at most every 100 ms, retries wait 10-40 ms.
WORKER_TIMEOUT_MS = 100


def make_services(
    uow_factory: FakeUnitOfWorkFactory,
    *rails: Rail,
    max_attempts: int = 3,
    worker_id: str = "worker-a",
    clock: Clock | None = None,
    lease_seconds: float = 30,
) -> WorkerServices:
    return WorkerServices(
        uow_factory=uow_factory,
        rails=FakeRailRegistry(*rails),
        clock=clock or SystemClock(),
        policy=ProcessingPolicy(max_attempts=max_attempts, lease=timedelta(seconds=lease_seconds)),
        worker_id=worker_id,
        relay_interval_seconds=0.05,
        relay_batch=50,
        min_backoff_ms=10,
        max_backoff_ms=40,
    )


def accept(uow_factory: FakeUnitOfWorkFactory, rail: Rail, clock: Clock | None = None, amount: str = "28.00") -> str:
    """Accept one PAY payment through the real use case (payment + outbox row); returns its id."""
    intent = PaymentIntent(
        client_id="merchant-1",
        idempotency_key=uuid.uuid4().hex,
        fingerprint="fp",
        method="UPI",
        flow=Flow.PAY,
        amount=amount,
        currency="INR",
        fields={"senderUpi": "alice@okbank", "receiverUpi": "bob@okbank"},
    )
    accepted = accept_payment(
        intent,
        uow_factory=uow_factory,
        rails=FakeRailRegistry(rail),
        clock=clock or SystemClock(),
        policy=IntakePolicy(),
        **HTTP_INTAKE,
    )
    assert accepted.payment_id is not None
    return accepted.payment_id


def stored(uow_factory: FakeUnitOfWorkFactory, payment_id: str) -> Payment:
    payment = uow_factory.store.payments.get(uuid.UUID(payment_id))
    assert payment is not None
    return payment


def wait_for(predicate: Callable[[], bool], timeout: float = 10.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.02)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


@dataclass
class RedisSetup:
    url: str
    namespace: str
    client: redis.Redis

    def broker(self, services: WorkerServices) -> Broker:
        return build_broker(services, redis_url=self.url, namespace=self.namespace)

    def dead_letter_count(self) -> int:
        return int(self.client.zcard(f"{self.namespace}:payments.XQ"))

    def pending_count(self) -> int:
        """Messages not yet acknowledged: queued, delayed, or fetched and in progress."""
        ns = self.namespace
        return int(self.client.hlen(f"{ns}:payments.msgs")) + int(self.client.hlen(f"{ns}:payments.DQ.msgs"))


@contextmanager
def running(
    services: WorkerServices, broker: Broker, *, threads: int = 2, relay: bool = True
) -> Iterator[EmbeddedWorker]:
    worker = EmbeddedWorker(services, broker, threads=threads, worker_timeout_ms=WORKER_TIMEOUT_MS, relay=relay)
    worker.start()
    try:
        yield worker
    finally:
        worker.stop(timeout_s=5)


def free_port() -> int:
    """A local TCP port nothing listens on (right now)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def with_port(url: str, port: int) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(netloc=f"{parts.hostname}:{port}"))


class TcpForwarder:
    """Listens on ``listen_port`` and pipes every connection to ``target``: a broker coming back."""

    def __init__(self, listen_port: int, target: tuple[str, int]) -> None:
        self.target = target
        forwarder = self

        class Handler(socketserver.BaseRequestHandler):
            def handle(self) -> None:
                forwarder.pipe(self.request)

        self.server = socketserver.ThreadingTCPServer(("127.0.0.1", listen_port), Handler, bind_and_activate=False)
        self.server.allow_reuse_address = True
        self.server.daemon_threads = True
        self.server.server_bind()
        self.server.server_activate()
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    def pipe(self, client: socket.socket) -> None:
        with socket.create_connection(self.target) as upstream:
            sockets = [client, upstream]
            while True:
                readable, _, _ = select.select(sockets, [], [], 0.5)
                for sock in readable:
                    data = sock.recv(65536)
                    if not data:
                        return
                    (upstream if sock is client else client).sendall(data)

    def __enter__(self) -> TcpForwarder:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
