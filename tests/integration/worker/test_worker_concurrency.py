"""Two workers on one Redis queue, every message delivered twice: each payment still moves money once."""

from __future__ import annotations

import threading
import time
import uuid

import pytest

from flosspay.adapters.worker.runner import EmbeddedWorker
from flosspay.domain.outbox import TOPIC_PROCESS, OutboxMessage
from flosspay.domain.payment import PaymentStatus
from flosspay.domain.rail import RailRequest, RailResult
from tests.fakes import FakeRail, FakeUnitOfWorkFactory

from .support import RedisSetup, accept, make_services, running, stored, wait_for

pytestmark = [pytest.mark.integration, pytest.mark.redis, pytest.mark.slow]

PAYMENTS = 30


class SlowPsp(FakeRail):
    """One worker's view of a shared PSP: slow enough for races to happen, ledger shared and locked."""

    def __init__(self, ledger: dict[str, int], lock: threading.Lock) -> None:
        super().__init__()
        self.charged = ledger
        self.lock = lock

    def execute(self, request: RailRequest) -> RailResult:
        time.sleep(0.02)
        with self.lock:
            return super().execute(request)

    def status(self, request: RailRequest) -> RailResult:
        with self.lock:
            return super().status(request)


def test_two_workers_charge_each_of_thirty_payments_exactly_once(rq: RedisSetup) -> None:
    uow = FakeUnitOfWorkFactory()
    ledger: dict[str, int] = {}
    lock = threading.Lock()
    rail_a, rail_b = SlowPsp(ledger, lock), SlowPsp(ledger, lock)
    services_a = make_services(uow, rail_a, worker_id="worker-a")
    services_b = make_services(uow, rail_b, worker_id="worker-b")

    with (
        running(services_a, rq.broker(services_a), threads=4),
        running(services_b, rq.broker(services_b), threads=4),
    ):
        payment_ids = [accept(uow, rail_a) for _ in range(PAYMENTS)]
        with uow() as tx:  # a second delivery of every payment, as after a relay crash
            for payment_id in payment_ids:
                tx.outbox.add(OutboxMessage(uuid.UUID(payment_id), TOPIC_PROCESS, services_a.clock.now()))
            tx.commit()
        wait_for(lambda: all(stored(uow, p).is_final for p in payment_ids), timeout=15, what="all payments final")
        wait_for(lambda: len(uow.store.dispatched) == 2 * PAYMENTS, what="every outbox row relayed")
        wait_for(lambda: rq.pending_count() == 0, what="every message acknowledged")

    assert {stored(uow, p).status for p in payment_ids} == {PaymentStatus.COMPLETED}
    assert ledger == dict.fromkeys(payment_ids, 1)
    executes = [ref for rail in (rail_a, rail_b) for action, ref in rail.calls if action == "execute"]
    assert sorted(executes) == sorted(payment_ids)
    assert rail_a.calls and rail_b.calls, "both workers should have taken part"
    assert rq.dead_letter_count() == 0


def test_threads_of_one_worker_never_share_a_payment(rq: RedisSetup) -> None:
    """Four copies of one message reach four threads of one process at once: one rail execution."""
    uow = FakeUnitOfWorkFactory()
    ledger: dict[str, int] = {}
    rail = SlowPsp(ledger, threading.Lock())
    services = make_services(uow, rail)
    payment_id = accept(uow, rail)
    broker = rq.broker(services)
    worker = EmbeddedWorker(services, broker, threads=4, worker_timeout_ms=100, relay=False)
    for _ in range(4):
        worker.actor.send(payment_id)

    worker.start()
    try:
        wait_for(lambda: rq.pending_count() == 0, what="every copy acknowledged")
    finally:
        worker.stop(5)

    assert stored(uow, payment_id).status is PaymentStatus.COMPLETED
    assert ledger == {payment_id: 1}
    assert [action for action, _ in rail.calls] == ["execute"]
