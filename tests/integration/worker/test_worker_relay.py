"""The relay loop: outbox rows to the broker, resilience to a dead broker, stalled-lease recovery, purge."""

from __future__ import annotations

import logging
import uuid
from datetime import timedelta
from urllib.parse import urlsplit

import pytest
from dramatiq.message import Message

from flosspay.adapters.clock import SystemClock
from flosspay.adapters.worker.actors import declare_actors
from flosspay.adapters.worker.broker import build_broker
from flosspay.adapters.worker.relay_loop import RelayLoop
from flosspay.adapters.worker.task_queue import DramatiqTaskQueue
from flosspay.domain.idempotency import IdempotencyRecord
from flosspay.domain.outbox import TOPIC_PROCESS, OutboxMessage
from flosspay.domain.payment import AttemptOutcome, PaymentStatus
from tests.fakes import FakeRail, FakeUnitOfWorkFactory

from .support import RedisSetup, TcpForwarder, accept, free_port, make_services, running, stored, wait_for, with_port

pytestmark = [pytest.mark.integration, pytest.mark.redis]


def _queued_payment_ids(rq: RedisSetup, queue: str = "payments") -> list[str]:
    """Payment ids of the messages waiting in ``queue``, in queue order."""
    ns = rq.namespace
    ids = rq.client.lrange(f"{ns}:{queue}", 0, -1)
    bodies = rq.client.hmget(f"{ns}:{queue}.msgs", ids) if ids else []
    return [Message.decode(body).args[0] for body in bodies]


def test_relay_sends_due_outbox_rows_and_marks_them_dispatched(rq: RedisSetup) -> None:
    uow = FakeUnitOfWorkFactory()
    rail = FakeRail()
    services = make_services(uow, rail)
    broker = rq.broker(services)
    loop = RelayLoop(services, DramatiqTaskQueue(declare_actors(broker, services)))
    payment_ids = [accept(uow, rail) for _ in range(3)]

    result = loop.run_once()

    assert result.errors == []
    assert result.sent == 3
    assert uow.store.dispatched == {1, 2, 3}
    assert _queued_payment_ids(rq) == payment_ids
    assert loop.run_once().sent == 0  # nothing is sent twice


def test_outbox_row_due_later_goes_to_the_delay_queue(rq: RedisSetup) -> None:
    uow = FakeUnitOfWorkFactory()
    services = make_services(uow, FakeRail())
    queue = DramatiqTaskQueue(declare_actors(rq.broker(services), services), SystemClock())
    payment_id = uuid.uuid4()
    now = SystemClock().now()

    queue.enqueue(OutboxMessage(payment_id, TOPIC_PROCESS, now + timedelta(seconds=60)))

    assert _queued_payment_ids(rq) == []
    [body] = rq.client.hvals(f"{rq.namespace}:payments.DQ.msgs")
    message = Message.decode(body)
    assert message.args == (str(payment_id),)
    eta_in_s = message.options["eta"] / 1000 - now.timestamp()
    assert 55 < eta_in_s <= 61


def test_relay_keeps_rows_while_the_broker_is_down_and_sends_them_once_it_is_back(
    rq: RedisSetup, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="flosspay.relay")
    uow = FakeUnitOfWorkFactory()
    rail = FakeRail()
    services = make_services(uow, rail)
    port = free_port()
    broker = build_broker(services, redis_url=with_port(rq.url, port), namespace=rq.namespace)
    loop = RelayLoop(services, DramatiqTaskQueue(declare_actors(broker, services)), max_error_backoff_seconds=0.2)
    payment_ids = [accept(uow, rail) for _ in range(3)]

    result = loop.run_once()
    assert result.sent == 0
    assert result.errors == ["relay: ConnectionError"]
    assert uow.store.dispatched == set()

    loop.start()
    try:
        wait_for(lambda: loop.failures >= 3, what="the loop to keep retrying")
        assert loop.running
        assert uow.store.dispatched == set()
        redis_address = urlsplit(rq.url)
        with TcpForwarder(port, (redis_address.hostname or "127.0.0.1", redis_address.port or 6379)):
            wait_for(lambda: len(uow.store.dispatched) == 3, what="the rows to be dispatched")
            wait_for(lambda: loop.failures == 0, what="the loop to notice")
    finally:
        loop.stop()

    assert sorted(_queued_payment_ids(rq)) == sorted(payment_ids)
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert [r.getMessage() for r in warnings] == ["relay: relay: ConnectionError; retrying with backoff"]
    assert "working again" in caplog.text


def test_stalled_payment_is_rescheduled_and_completed_but_a_live_lease_is_left_alone(rq: RedisSetup) -> None:
    uow = FakeUnitOfWorkFactory()
    rail = FakeRail()
    services = make_services(uow, rail)
    stalled_id = accept(uow, rail)
    busy_id = accept(uow, rail)
    now = services.clock.now()
    with uow() as tx:
        stalled = tx.payments.get(uuid.UUID(stalled_id))
        busy = tx.payments.get(uuid.UUID(busy_id))
        assert stalled is not None and busy is not None
        # A worker took this one, started the rail call and died; its lease ran out 30 s ago.
        stalled.claim("dead-worker", now - timedelta(seconds=60), now - timedelta(seconds=30))
        stalled.start_attempt(now - timedelta(seconds=60))
        # This one is in the hands of a live worker until a minute from now.
        busy.claim("live-worker", now, now + timedelta(seconds=60))
        tx.payments.save(stalled)
        tx.payments.save(busy)
        tx.outbox.mark_dispatched([1, 2], now - timedelta(seconds=60))  # their first messages were relayed long ago
        tx.commit()

    with running(services, rq.broker(services)):
        wait_for(lambda: stored(uow, stalled_id).is_final, what="the stalled payment to finish")
        wait_for(lambda: rq.pending_count() == 0, what="the message to be acknowledged")

    recovered = stored(uow, stalled_id)
    assert recovered.status is PaymentStatus.COMPLETED
    assert [a.outcome for a in recovered.attempts] == [AttemptOutcome.STARTED, AttemptOutcome.COMPLETED]
    assert rail.calls == [("status", stalled_id), ("execute", stalled_id)]  # asked first: it might have paid
    assert rail.charged == {stalled_id: 1}
    assert stored(uow, busy_id).status is PaymentStatus.PROCESSING
    assert stored(uow, busy_id).lease_owner == "live-worker"


def test_relay_purges_expired_idempotency_records_but_keeps_live_ones(rq: RedisSetup) -> None:
    uow = FakeUnitOfWorkFactory()
    services = make_services(uow, FakeRail())
    queue = DramatiqTaskQueue(declare_actors(rq.broker(services), services))
    loop = RelayLoop(services, queue, purge_interval_seconds=3600)
    now = services.clock.now()

    def record(key: str, expires_at_offset_s: int) -> IdempotencyRecord:
        return IdempotencyRecord(
            client_id="merchant-1",
            key=key,
            fingerprint="fp",
            response_status=200,
            response_body=b"{}",
            created_at=now - timedelta(days=2),
            expires_at=now + timedelta(seconds=expires_at_offset_s),
        )

    with uow() as tx:
        tx.idempotency.claim(record("old", -60), now - timedelta(days=2))
        tx.idempotency.claim(record("fresh", 3600), now)
        tx.commit()

    result = loop.run_once()

    assert result.purged == 1
    assert set(uow.store.idempotency) == {("merchant-1", "fresh")}

    # Purging is periodic, not every pass: a key that expires now waits for the next purge.
    with uow() as tx:
        tx.idempotency.claim(record("later", -1), now)
        tx.commit()
    assert loop.run_once().purged == 0
    assert ("merchant-1", "later") in uow.store.idempotency
