"""The process_payment actor on a real RabbitMQ broker (FLOSSPAY_BROKER_URL=amqp://…): enqueue and
consume, retries with backoff (the delay queue), dead letters in ``<ns>.payments.XQ``, list and requeue.

Each test has a namespace of its own, so its queues are its own on the shared vhost; they are deleted after.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pika
import pytest
from dramatiq.common import dq_name, xq_name

from flosspay.adapters.worker.broker import FlossPayRabbitmqBroker, build_broker
from flosspay.adapters.worker.dead_letters import list_dead_letters, requeue_dead_letters
from flosspay.adapters.worker.runner import EmbeddedWorker, _broker_ping
from flosspay.adapters.worker.services import WorkerServices
from flosspay.application.relay import relay_outbox
from flosspay.domain.payment import AttemptOutcome, PaymentStatus
from flosspay.domain.rail import Outcome, RailResult
from tests.fakes import FakeRail, FakeUnitOfWorkFactory

from .support import accept, make_services, running, stored, wait_for

pytestmark = [pytest.mark.integration, pytest.mark.rabbitmq]

TRANSIENT = RailResult(Outcome.TRANSIENT, "91", "issuer timed out")


class Rabbit:
    """A namespace of this test's own on the real RabbitMQ, and counts of its queues."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.namespace = f"flosspay-test-{uuid.uuid4().hex[:12]}"
        self.queue = f"{self.namespace}.payments"

    def broker(self, services: WorkerServices) -> FlossPayRabbitmqBroker:
        broker = build_broker(services, url=self.url, namespace=self.namespace)
        assert isinstance(broker, FlossPayRabbitmqBroker)
        return broker

    def counts(self) -> tuple[int, int, int]:
        """Ready messages on the queue, its delay queue and its dead-letter queue (0 for a queue not made yet)."""
        connection = pika.BlockingConnection(pika.URLParameters(self.url))
        try:
            found = []
            for name in (self.queue, dq_name(self.queue), xq_name(self.queue)):
                channel = connection.channel()
                try:
                    found.append(int(channel.queue_declare(name, passive=True).method.message_count))
                    channel.close()
                except pika.exceptions.ChannelClosedByBroker:
                    found.append(0)
            return found[0], found[1], found[2]
        finally:
            connection.close()

    def delete(self) -> None:
        connection = pika.BlockingConnection(pika.URLParameters(self.url))
        try:
            channel = connection.channel()
            for name in (self.queue, dq_name(self.queue), xq_name(self.queue)):
                channel.queue_delete(name)
        finally:
            connection.close()


@pytest.fixture
def rabbit(rabbitmq_url: str) -> Iterator[Rabbit]:
    setup = Rabbit(rabbitmq_url)
    yield setup
    setup.delete()


def test_the_relay_enqueues_on_rabbitmq_and_a_worker_completes_the_payment(rabbit: Rabbit) -> None:
    uow = FakeUnitOfWorkFactory()
    rail = FakeRail()
    services = make_services(uow, rail)
    broker = rabbit.broker(services)
    worker = EmbeddedWorker(services, broker, threads=2, worker_timeout_ms=100, relay=False)
    ids = [accept(uow, rail) for _ in range(5)]

    assert relay_outbox(uow_factory=uow, queue=worker.queue, clock=services.clock, batch=50) == 5
    # Confirmed publishes: the five messages are in RabbitMQ before the relay marks the rows dispatched.
    assert rabbit.counts() == (5, 0, 0)
    worker.start()
    try:
        wait_for(lambda: all(stored(uow, p).is_final for p in ids), what="the payments to finish")
        wait_for(lambda: rabbit.counts() == (0, 0, 0), what="the messages to be acknowledged")
    finally:
        worker.stop(5)
    assert all(stored(uow, p).status is PaymentStatus.COMPLETED for p in ids)
    assert rail.charged == {p: 1 for p in ids}
    assert _broker_ping(broker) is not None and _broker_ping(broker)() is True  # type: ignore[misc]


def test_transient_twice_then_success_retries_through_the_delay_queue(rabbit: Rabbit) -> None:
    uow = FakeUnitOfWorkFactory()
    rail = FakeRail(TRANSIENT, TRANSIENT)
    services = make_services(uow, rail, max_attempts=3)
    payment_id = accept(uow, rail)

    with running(services, rabbit.broker(services)):
        wait_for(lambda: stored(uow, payment_id).is_final, what="the payment to finish")
        wait_for(lambda: rabbit.counts() == (0, 0, 0), what="the queues to drain")

    payment = stored(uow, payment_id)
    assert payment.status is PaymentStatus.COMPLETED
    assert [a.outcome for a in payment.attempts] == [
        AttemptOutcome.TRANSIENT,
        AttemptOutcome.TRANSIENT,
        AttemptOutcome.COMPLETED,
    ]
    assert rail.charged == {payment_id: 1}


def test_exhausted_message_is_dead_lettered_listed_and_requeued(rabbit: Rabbit) -> None:
    uow = FakeUnitOfWorkFactory()
    rail = FakeRail(*[TRANSIENT] * 10)
    services = make_services(uow, rail, max_attempts=3)
    payment_id = accept(uow, rail)

    with running(services, rabbit.broker(services)):
        wait_for(lambda: rabbit.counts()[2] == 1, what="the message to be dead-lettered")
    payment = stored(uow, payment_id)
    assert payment.status is PaymentStatus.FAILED
    assert len(payment.attempts) == 3 and len(rail.calls) == 3

    broker = rabbit.broker(services)
    [letter] = list_dead_letters(broker)
    assert letter.payment_id == payment_id
    assert letter.retries == 2
    assert letter.died_at is not None
    assert rabbit.counts()[2] == 1, "listing must put every dead letter back"
    assert requeue_dead_letters(broker, "no-such-payment") == 0
    assert rabbit.counts()[2] == 1

    assert requeue_dead_letters(broker, payment_id) == 1
    broker.close()
    assert rabbit.counts() == (1, 0, 0)
    with running(services, rabbit.broker(services)):
        wait_for(lambda: rabbit.counts() == (0, 0, 0), what="the requeued message to be acknowledged")
    assert len(rail.calls) == 3, "a payment already final is acknowledged without calling the rail"
    assert stored(uow, payment_id).status is PaymentStatus.FAILED


def test_a_message_without_a_payment_id_is_dead_lettered_at_once(rabbit: Rabbit) -> None:
    uow = FakeUnitOfWorkFactory()
    rail = FakeRail()
    services = make_services(uow, rail)
    broker = rabbit.broker(services)
    worker = EmbeddedWorker(services, broker, threads=1, worker_timeout_ms=100, relay=False)
    worker.actor.send("not-a-uuid")
    worker.start()
    try:
        wait_for(lambda: rabbit.counts()[2] == 1, what="the message to be dead-lettered")
    finally:
        worker.stop(5)
    [letter] = list_dead_letters(broker)
    assert letter.payment_id == "not-a-uuid"
    assert letter.retries == 0
    assert rail.calls == []


def test_no_dead_letter_queue_yet_lists_nothing(rabbit: Rabbit) -> None:
    services = make_services(FakeUnitOfWorkFactory(), FakeRail())
    assert list_dead_letters(rabbit.broker(services)) == []
