"""The relay's batches (ADR 0020): a batch of outbox rows reaches the broker in one hand-over, in the
format and on the queues of Dramatiq's own ``enqueue``, and a row is marked dispatched only once the
broker has its message."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from dramatiq.message import Message

from flosspay.adapters.clock import SystemClock
from flosspay.adapters.worker.actors import REQUEST_ID_OPTION, declare_actors
from flosspay.adapters.worker.refund_actor import RefundRoutingQueue, declare_refund_actor
from flosspay.adapters.worker.task_queue import DramatiqTaskQueue
from flosspay.application.relay import relay_outbox
from flosspay.domain.outbox import TOPIC_PROCESS, TOPIC_REFUND, OutboxMessage
from tests.fakes import FakeRail, FakeUnitOfWorkFactory

from .support import RedisSetup, accept, make_services, running, stored, wait_for
from .test_worker_rabbitmq import Rabbit

pytestmark = pytest.mark.integration


@pytest.mark.redis
def test_a_redis_batch_lands_as_dramatiq_enqueue_would_put_each_message(rq: RedisSetup) -> None:
    services = make_services(FakeUnitOfWorkFactory(), FakeRail())
    queue = DramatiqTaskQueue(declare_actors(rq.broker(services), services), SystemClock())
    now = SystemClock().now()
    due = [OutboxMessage(uuid.uuid4(), TOPIC_PROCESS, now, request_id=f"req-{i}") for i in range(3)]
    later = OutboxMessage(uuid.uuid4(), TOPIC_PROCESS, now + timedelta(seconds=60))

    queue.enqueue_many([due[0], later, due[1], due[2]])

    ns = rq.namespace
    ids = rq.client.lrange(f"{ns}:payments", 0, -1)
    messages = [Message.decode(body) for body in rq.client.hmget(f"{ns}:payments.msgs", ids)]
    assert [m.args for m in messages] == [(str(m.payment_id),) for m in due]  # in order, on the queue
    assert [m.options[REQUEST_ID_OPTION] for m in messages] == ["req-0", "req-1", "req-2"]
    assert [m.options["redis_message_id"].encode() for m in messages] == ids  # Dramatiq's keys: ack works
    assert {m.actor_name for m in messages} == {"process_payment"}
    [delayed] = [Message.decode(body) for body in rq.client.hvals(f"{ns}:payments.DQ.msgs")]
    assert delayed.args == (str(later.payment_id),)
    assert 55 < delayed.options["eta"] / 1000 - now.timestamp() <= 61


@pytest.mark.redis
def test_a_batch_of_payments_and_refunds_reaches_both_actors(rq: RedisSetup) -> None:
    services = make_services(FakeUnitOfWorkFactory(), FakeRail())
    broker = rq.broker(services)
    queue = RefundRoutingQueue(
        DramatiqTaskQueue(declare_actors(broker, services)), declare_refund_actor(broker, services), SystemClock()
    )
    now = SystemClock().now()
    pay, refund = uuid.uuid4(), uuid.uuid4()
    orphan = OutboxMessage(uuid.uuid4(), TOPIC_REFUND, now)  # a refund message without its refund: dropped

    queue.enqueue_many(
        [OutboxMessage(pay, TOPIC_PROCESS, now), orphan, OutboxMessage(pay, TOPIC_REFUND, now, refund_id=refund)]
    )

    ids = rq.client.lrange(f"{rq.namespace}:payments", 0, -1)
    messages = [Message.decode(body) for body in rq.client.hmget(f"{rq.namespace}:payments.msgs", ids)]
    assert [(m.actor_name, m.args) for m in messages] == [
        ("process_payment", (str(pay),)),
        ("process_refund", (str(refund),)),
    ]


@pytest.mark.redis
def test_a_relayed_redis_batch_is_processed_by_the_worker(rq: RedisSetup) -> None:
    uow = FakeUnitOfWorkFactory()
    rail = FakeRail()
    services = make_services(uow, rail)
    ids = [accept(uow, rail) for _ in range(7)]
    with running(services, rq.broker(services)):
        wait_for(lambda: all(stored(uow, p).is_final for p in ids), what="the payments to finish")
        wait_for(lambda: rq.pending_count() == 0, what="the messages to be acknowledged")
    assert rail.charged == {p: 1 for p in ids}


@pytest.mark.rabbitmq
def test_a_rabbitmq_batch_commits_once_and_a_vanished_queue_is_declared_again(rabbitmq_url: str) -> None:
    rabbit = Rabbit(rabbitmq_url)
    try:
        uow = FakeUnitOfWorkFactory()
        rail = FakeRail()
        services = make_services(uow, rail)
        broker = rabbit.broker(services)
        queue = DramatiqTaskQueue(declare_actors(broker, services), services.clock)
        [accept(uow, rail) for _ in range(4)]
        assert relay_outbox(uow_factory=uow, queue=queue, clock=services.clock, batch=3) == 3
        assert rabbit.counts() == (3, 0, 0)  # committed: in RabbitMQ before the rows were marked
        assert uow.store.dispatched == {1, 2, 3}

        rabbit.delete()  # behind the broker's back: a publish now would be returned, not queued
        assert relay_outbox(uow_factory=uow, queue=queue, clock=services.clock, batch=3) == 1
        assert rabbit.counts() == (1, 0, 0)
        assert uow.store.dispatched == {1, 2, 3, 4}
        later = OutboxMessage(uuid.uuid4(), TOPIC_PROCESS, services.clock.now() + timedelta(seconds=60))
        queue.enqueue_many([later])
        assert rabbit.counts() == (1, 1, 0)
        broker.close()
    finally:
        rabbit.delete()
