"""The batching Redis consumer (ADR 0022): half the prefetch per fetch, acknowledgements in batches, none lost."""

from __future__ import annotations

import uuid

import dramatiq
import pytest
import redis
from dramatiq.broker import MessageProxy

from flosspay.adapters.worker.broker import build_broker
from flosspay.adapters.worker.redis_consumer import BatchingRedisConsumer, FlossPayRedisBroker
from flosspay.domain.payment import PaymentStatus
from flosspay.domain.rail import Outcome, RailResult
from tests.fakes import FakeRail, FakeUnitOfWorkFactory

from .support import RedisSetup, accept, make_services, running, stored, wait_for

pytestmark = pytest.mark.integration


def _broker_with_messages(rq: RedisSetup, count: int) -> tuple[FlossPayRedisBroker, list[str]]:
    broker = build_broker(make_services(FakeUnitOfWorkFactory(), FakeRail()), redis_url=rq.url, namespace=rq.namespace)
    assert isinstance(broker, FlossPayRedisBroker)

    @dramatiq.actor(broker=broker, queue_name="payments", actor_name="probe")
    def probe(ident: str) -> None:
        """Never run here: the test takes the messages off the consumer itself."""

    sent = [probe.send(str(i)).message_id for i in range(count)]
    return broker, sent


def _unacknowledged(rq: RedisSetup) -> int:
    return int(rq.client.hlen(f"{rq.namespace}:payments.msgs"))


def _take(consumer: BatchingRedisConsumer) -> MessageProxy | None:
    return next(consumer)  # type: ignore[no-any-return]


def test_the_consumer_refills_only_once_half_its_prefetch_is_done(rq: RedisSetup) -> None:
    broker, _ = _broker_with_messages(rq, 10)
    consumer = broker.consume("payments", prefetch=4, timeout=100)
    taken = [_take(consumer) for _ in range(4)]  # one fetch of four
    assert all(m is not None for m in taken)
    assert rq.client.llen(f"{rq.namespace}:payments") == 6

    assert _take(consumer) is None  # four in hand: above the low-water mark, nothing fetched
    consumer.ack(taken[0])
    assert _take(consumer) is None  # three: still above
    assert rq.client.llen(f"{rq.namespace}:payments") == 6
    consumer.ack(taken[1])
    assert _take(consumer) is not None  # two: half done, two more fetched at once
    assert rq.client.llen(f"{rq.namespace}:payments") == 4
    consumer.close()


def test_acknowledgements_are_sent_a_batch_at_a_time_and_all_of_them_on_close(rq: RedisSetup) -> None:
    broker, _ = _broker_with_messages(rq, 12)
    consumer = BatchingRedisConsumer(broker, "payments", 16, 100, ack_batch=5, ack_delay_s=60)
    taken = [_take(consumer) for _ in range(12)]
    assert _unacknowledged(rq) == 12
    for message in taken[:4]:
        consumer.ack(message)
    assert _unacknowledged(rq) == 12  # a batch is not full yet
    consumer.ack(taken[4])
    assert _unacknowledged(rq) == 7  # five in one pipeline
    for message in taken[5:]:
        consumer.ack(message)
    assert _unacknowledged(rq) == 2
    consumer.close()
    assert _unacknowledged(rq) == 0
    assert rq.client.scard(f"{rq.namespace}:__acks__.{broker.broker_id}.payments") == 0


def test_a_batch_older_than_its_delay_is_sent_by_the_consumer_thread(rq: RedisSetup) -> None:
    broker, _ = _broker_with_messages(rq, 2)
    consumer = BatchingRedisConsumer(broker, "payments", 4, 100, ack_batch=100, ack_delay_s=0.0)
    first = _take(consumer)
    consumer.ack(first)
    assert _unacknowledged(rq) == 2
    _take(consumer)  # the consumer's next turn sends what is due
    assert _unacknowledged(rq) == 1
    consumer.close()


def test_acknowledgements_redis_did_not_take_are_sent_by_the_next_consumer(rq: RedisSetup, redis_url: str) -> None:
    broker, _ = _broker_with_messages(rq, 3)
    consumer = BatchingRedisConsumer(broker, "payments", 4, 100, ack_batch=10)
    taken = [_take(consumer) for _ in range(3)]
    working_client = broker.client
    broker.client = redis.Redis(host="127.0.0.1", port=1, socket_connect_timeout=0.2)  # nothing listens there
    for message in taken:
        consumer.ack(message)
    with pytest.raises(dramatiq.errors.ConnectionClosed):
        consumer.close()
    assert _unacknowledged(rq) == 3

    broker.client = working_client  # Redis is back: Dramatiq starts a new consumer on the queue
    again = broker.consume("payments", prefetch=4, timeout=100)
    again.close()
    assert _unacknowledged(rq) == 0


def test_acknowledgements_still_go_out_when_redis_has_forgotten_the_script(rq: RedisSetup) -> None:
    broker, _ = _broker_with_messages(rq, 2)
    consumer = BatchingRedisConsumer(broker, "payments", 4, 100, ack_batch=2)
    taken = [_take(consumer) for _ in range(2)]
    dispatch = broker.scripts["dispatch"]
    # The same script under a sha Redis has never seen, as after a restart that emptied its script cache.
    broker.scripts["dispatch"] = broker.client.register_script(dispatch.script + b"\n-- " + uuid.uuid4().hex.encode())
    for message in taken:
        consumer.ack(message)
    assert _unacknowledged(rq) == 0
    consumer.close()


def test_a_worker_on_the_batching_consumer_completes_and_acknowledges_every_payment(rq: RedisSetup) -> None:
    uow = FakeUnitOfWorkFactory()
    rail = FakeRail(*[RailResult(Outcome.COMPLETED, "00")] * 30)
    services = make_services(uow, rail)
    broker = rq.broker(services)
    with running(services, broker, threads=3):
        ids = [accept(uow, rail) for _ in range(30)]
        wait_for(lambda: all(stored(uow, i).status is PaymentStatus.COMPLETED for i in ids), what="all 30 payments")
        wait_for(lambda: rq.pending_count() == 0, what="every message to be acknowledged")
    assert len(rail.calls) == 30
