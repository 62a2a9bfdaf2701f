"""Several relays at once (one per worker process) on PostgreSQL: every outbox row is handed to the
queue exactly once, because each relay locks the rows it fetches (``FOR UPDATE SKIP LOCKED``) until
it has marked them dispatched in the same transaction (ADR 0016)."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Sequence

import pytest

from flosspay.adapters.clock import SystemClock
from flosspay.adapters.persistence.unit_of_work import SqlUnitOfWorkFactory
from flosspay.application.relay import relay_outbox
from flosspay.domain.outbox import TOPIC_PROCESS, OutboxMessage
from tests.integration.persistence.support import T0, make_payment

pytestmark = [pytest.mark.integration, pytest.mark.postgres]

RELAYS = 4
PAYMENTS = 300


class RecordingQueue:
    """A TaskQueue that counts what it was given (thread-safe), slowly enough for relays to overlap."""

    def __init__(self) -> None:
        self.sent: Counter[str] = Counter()
        self.lock = threading.Lock()

    def enqueue(self, message: OutboxMessage) -> None:
        with self.lock:
            self.sent[str(message.payment_id)] += 1

    def enqueue_many(self, messages: Sequence[OutboxMessage]) -> None:
        for message in messages:
            self.enqueue(message)


@pytest.mark.parametrize("database_url", ["postgres"], indirect=True)
def test_concurrent_relays_dispatch_every_row_exactly_once(uow_factory: SqlUnitOfWorkFactory) -> None:
    ids = []
    with uow_factory() as uow:
        for _ in range(PAYMENTS):
            payment = make_payment()
            uow.payments.add(payment)
            uow.outbox.add(OutboxMessage(payment.id, TOPIC_PROCESS, T0))
            ids.append(str(payment.id))
        uow.commit()
    queue = RecordingQueue()
    start = threading.Barrier(RELAYS)
    errors: list[BaseException] = []

    def relay() -> None:
        try:
            start.wait()
            idle = 0
            while idle < 3:
                sent = relay_outbox(uow_factory=uow_factory, queue=queue, clock=SystemClock(), batch=7)
                idle = idle + 1 if sent == 0 else 0
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=relay) for _ in range(RELAYS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert errors == []
    assert set(queue.sent) == set(ids)
    assert max(queue.sent.values()) == 1, "no outbox row is dispatched twice"
