"""The process_payment actor on a real Redis broker: retries, final failures, dead letters, requeue."""

from __future__ import annotations

import logging
import threading
import uuid

import pytest

from flosspay.adapters.worker.dead_letters import list_dead_letters, requeue_dead_letters
from flosspay.adapters.worker.runner import EmbeddedWorker
from flosspay.domain.payment import AttemptOutcome, PaymentStatus
from flosspay.domain.rail import Outcome, RailResult
from tests.fakes import FakeRail, FakeUnitOfWork, FakeUnitOfWorkFactory

from .support import RedisSetup, accept, make_services, running, stored, wait_for

pytestmark = [pytest.mark.integration, pytest.mark.redis]

TRANSIENT = RailResult(Outcome.TRANSIENT, "91", "issuer timed out")
DECLINED = RailResult(Outcome.DECLINED, "U30", "debit failed at the remitter bank")
SECRET = "hunter2-secret"


class FlakyUnitOfWorkFactory:
    """A database that is down for the next ``failures`` transactions (raises like a driver would)."""

    def __init__(self, inner: FakeUnitOfWorkFactory, failures: int) -> None:
        self.inner = inner
        self.failures = failures
        self.lock = threading.Lock()

    def __call__(self) -> FakeUnitOfWork:
        with self.lock:
            if self.failures > 0:
                self.failures -= 1
                raise ConnectionError(f"could not connect to postgresql://flosspay:{SECRET}@db/flosspay")
        return self.inner()


def _settled(rq: RedisSetup) -> bool:
    return rq.pending_count() == 0


def test_transient_twice_then_success_completes_on_the_third_attempt(rq: RedisSetup) -> None:
    uow = FakeUnitOfWorkFactory()
    rail = FakeRail(TRANSIENT, TRANSIENT)
    services = make_services(uow, rail, max_attempts=3)
    payment_id = accept(uow, rail)

    with running(services, rq.broker(services)):
        wait_for(lambda: stored(uow, payment_id).is_final, what="the payment to finish")
        wait_for(lambda: _settled(rq), what="the message to be acknowledged")

    payment = stored(uow, payment_id)
    assert payment.status is PaymentStatus.COMPLETED
    assert [a.outcome for a in payment.attempts] == [
        AttemptOutcome.TRANSIENT,
        AttemptOutcome.TRANSIENT,
        AttemptOutcome.COMPLETED,
    ]
    assert rail.charged == {payment_id: 1}
    assert rq.dead_letter_count() == 0


def test_permanent_decline_fails_at_once_with_the_rail_code(rq: RedisSetup) -> None:
    uow = FakeUnitOfWorkFactory()
    rail = FakeRail(DECLINED)
    services = make_services(uow, rail, max_attempts=3)
    payment_id = accept(uow, rail)

    with running(services, rq.broker(services)):
        wait_for(lambda: stored(uow, payment_id).is_final, what="the payment to finish")
        wait_for(lambda: _settled(rq), what="the message to be acknowledged")

    payment = stored(uow, payment_id)
    assert payment.status is PaymentStatus.FAILED
    assert payment.failure_code == "U30"
    assert [a.outcome for a in payment.attempts] == [AttemptOutcome.DECLINED]
    assert rail.calls == [("execute", payment_id)]
    assert rq.dead_letter_count() == 0


def test_always_transient_fails_the_payment_and_dead_letters_the_message(rq: RedisSetup) -> None:
    uow = FakeUnitOfWorkFactory()
    rail = FakeRail(*[TRANSIENT] * 10)
    services = make_services(uow, rail, max_attempts=3)
    payment_id = accept(uow, rail)

    with running(services, rq.broker(services)):
        wait_for(lambda: rq.dead_letter_count() == 1, what="the message to be dead-lettered")
        wait_for(lambda: _settled(rq), what="the queue to drain")

    payment = stored(uow, payment_id)
    assert payment.status is PaymentStatus.FAILED
    assert payment.failure_code == "91"
    assert len(payment.attempts) == 3
    assert all(a.outcome is AttemptOutcome.TRANSIENT for a in payment.attempts)
    assert len(rail.calls) == 3

    broker = rq.broker(services)
    [letter] = list_dead_letters(broker)
    assert letter.payment_id == payment_id
    assert letter.retries == 2
    assert letter.died_at is not None

    # Requeue: the message leaves the dead-letter set and is acknowledged without a rail call.
    assert requeue_dead_letters(broker, payment_id) == 1
    assert rq.dead_letter_count() == 0
    assert rq.client.llen(f"{rq.namespace}:payments") == 1
    with running(services, rq.broker(services)):
        wait_for(lambda: _settled(rq), what="the requeued message to be acknowledged")
    assert rq.dead_letter_count() == 0
    assert len(rail.calls) == 3
    assert stored(uow, payment_id).status is PaymentStatus.FAILED


def test_database_outage_is_retried_and_never_logs_the_error_text(
    rq: RedisSetup, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    uow = FakeUnitOfWorkFactory()
    rail = FakeRail()
    payment_id = accept(uow, rail)
    services = make_services(FlakyUnitOfWorkFactory(uow, failures=2), rail, max_attempts=3)

    with running(services, rq.broker(services), relay=False) as worker:
        worker.actor.send(payment_id)
        wait_for(lambda: stored(uow, payment_id).is_final, what="the payment to finish")
        wait_for(lambda: _settled(rq), what="the message to be acknowledged")

    assert stored(uow, payment_id).status is PaymentStatus.COMPLETED
    assert rail.charged == {payment_id: 1}
    assert "ConnectionError while processing, will retry" in caplog.text
    assert SECRET not in caplog.text


def test_database_down_for_every_attempt_dead_letters_then_requeue_completes(rq: RedisSetup) -> None:
    uow = FakeUnitOfWorkFactory()
    rail = FakeRail()
    payment_id = accept(uow, rail)
    flaky = FlakyUnitOfWorkFactory(uow, failures=3)
    services = make_services(flaky, rail, max_attempts=3)

    with running(services, rq.broker(services), relay=False) as worker:
        worker.actor.send(payment_id)
        wait_for(lambda: rq.dead_letter_count() == 1, what="the message to be dead-lettered")
        assert stored(uow, payment_id).status is PaymentStatus.QUEUED
        stored_bodies = b"".join(rq.client.hvals(f"{rq.namespace}:payments.XQ.msgs"))
        assert SECRET.encode() not in stored_bodies

        # The database is back: an operator requeues the dead letter and the payment goes through.
        assert requeue_dead_letters(worker.broker) == 1
        wait_for(lambda: stored(uow, payment_id).is_final, what="the payment to finish")
        wait_for(lambda: _settled(rq), what="the message to be acknowledged")

    assert stored(uow, payment_id).status is PaymentStatus.COMPLETED
    assert rail.charged == {payment_id: 1}
    assert rq.dead_letter_count() == 0


def test_message_for_a_final_payment_is_acknowledged_without_calling_the_rail(rq: RedisSetup) -> None:
    uow = FakeUnitOfWorkFactory()
    rail = FakeRail()
    services = make_services(uow, rail)
    payment_id = accept(uow, rail)

    with running(services, rq.broker(services)) as worker:
        wait_for(lambda: stored(uow, payment_id).is_final, what="the payment to finish")
        wait_for(lambda: _settled(rq), what="the first message to be acknowledged")
        calls_before = list(rail.calls)
        version_before = stored(uow, payment_id).version

        worker.actor.send(payment_id)
        assert rq.pending_count() == 1
        wait_for(lambda: _settled(rq), what="the duplicate message to be acknowledged")

    assert rail.calls == calls_before == [("execute", payment_id)]
    assert stored(uow, payment_id).version == version_before
    assert rq.dead_letter_count() == 0


def test_a_message_without_a_payment_id_is_dead_lettered_without_retries(rq: RedisSetup) -> None:
    uow = FakeUnitOfWorkFactory()
    rail = FakeRail()
    services = make_services(uow, rail)
    broker = rq.broker(services)
    worker = EmbeddedWorker(services, broker, threads=1, worker_timeout_ms=100, relay=False)

    worker.actor.send("not-a-uuid")
    worker.start()
    try:
        wait_for(lambda: rq.dead_letter_count() == 1, what="the message to be dead-lettered")
    finally:
        worker.stop(5)

    [letter] = list_dead_letters(broker)
    assert letter.payment_id == "not-a-uuid"
    assert letter.retries == 0
    assert rail.calls == []
    assert uuid.UUID(letter.message_id)


def test_last_delivery_fails_the_payment_even_when_earlier_ones_never_reached_the_rail(rq: RedisSetup) -> None:
    uow = FakeUnitOfWorkFactory()
    rail = FakeRail(TRANSIENT)
    payment_id = accept(uow, rail)
    services = make_services(FlakyUnitOfWorkFactory(uow, failures=2), rail, max_attempts=3)

    with running(services, rq.broker(services), relay=False) as worker:
        worker.actor.send(payment_id)
        wait_for(lambda: rq.dead_letter_count() == 1, what="the message to be dead-lettered")

    payment = stored(uow, payment_id)
    assert payment.status is PaymentStatus.FAILED  # not left PROCESSING with nobody to retry it
    assert payment.failure_code == "91"
    assert [a.outcome for a in payment.attempts] == [AttemptOutcome.TRANSIENT]
