"""The payment repository: round trips, optimistic concurrency, stalled leases, rollback by default."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta, timezone

import pytest
import sqlalchemy
from sqlalchemy import Engine, func, select

from flosspay.adapters.persistence.tables import outbox, payment_history, payments, rail_attempts
from flosspay.adapters.persistence.unit_of_work import SqlUnitOfWorkFactory
from flosspay.domain.errors import ConcurrentUpdate
from flosspay.domain.outbox import TOPIC_PROCESS, OutboxMessage
from flosspay.domain.payment import AttemptOutcome, Flow, PaymentStatus
from tests.integration.persistence.support import T0, make_payment, make_record

pytestmark = pytest.mark.integration

IST = timezone(timedelta(hours=5, minutes=30))


def _count(engine: Engine, table: sqlalchemy.Table) -> int:
    with engine.connect() as connection:
        return int(connection.execute(select(func.count()).select_from(table)).scalar_one())


def _assert_utc(value: datetime | None) -> None:
    assert value is not None
    assert value.tzinfo is not None and value.utcoffset() == timedelta(0)


def test_a_payment_round_trips_with_history_attempts_and_json(uow_factory: SqlUnitOfWorkFactory) -> None:
    details = {"senderUpi": "alice@upi", "receiverUpi": "bob@upi", "meta": {"tags": ["a", "é"], "n": 7}}
    public = {"cardLast4": "4242", "scheme": "VISA"}
    payment = make_payment(flow=Flow.COLLECT, details=details, public=public)
    with uow_factory() as uow:
        uow.payments.add(payment)
        uow.commit()
    assert payment.new_history == []

    t1, t2 = T0 + timedelta(seconds=1), T0 + timedelta(seconds=2)
    with uow_factory() as uow:
        loaded = uow.payments.get(payment.id)
        assert loaded is not None
        loaded.claim("worker-1", t1, t1 + timedelta(seconds=30))
        first = loaded.start_attempt(t1)
        loaded.finish_attempt(first.number, AttemptOutcome.PENDING, "91", "waiting for the payer", t1)
        loaded.release(t1)
        uow.payments.save(loaded)
        assert loaded.version == 2
        uow.commit()

    with uow_factory() as uow:
        loaded = uow.payments.get(payment.id)
        assert loaded is not None
        loaded.claim("worker-2", t2, t2 + timedelta(seconds=30))
        polled = loaded.start_attempt(t2, "status")  # continues the waiting attempt
        assert polled.number == 1
        loaded.finish_attempt(1, AttemptOutcome.COMPLETED, "00", "approved", t2.astimezone(IST))  # any zone in
        second = loaded.start_attempt(t2, "status")
        loaded.finish_attempt(second.number, AttemptOutcome.COMPLETED, "00", "confirmed", t2)
        loaded.complete(t2, "rail confirmed (00)", second.number)
        uow.payments.save(loaded)
        uow.commit()

    with uow_factory() as uow:
        final = uow.payments.get(payment.id)
    assert final is not None
    assert final.status is PaymentStatus.COMPLETED
    assert final.version == 3
    assert (final.client_id, final.flow, final.method, final.rail) == ("cl_test", Flow.COLLECT, "UPI", "upi")
    assert (final.amount.minor, final.amount.currency) == (2800, "INR")
    assert final.details == details
    assert final.public == public
    assert final.note == "rent"
    assert final.lease_owner is None and final.lease_expires_at is None
    assert [(h.from_status, h.to_status, h.attempt) for h in final.history] == [
        (None, PaymentStatus.REQUESTED, None),
        (PaymentStatus.REQUESTED, PaymentStatus.PROCESSING, None),
        (PaymentStatus.PROCESSING, PaymentStatus.COMPLETED, 2),
    ]
    assert [h.at for h in final.history] == [T0, t1, t2]
    assert [(a.number, a.action, a.outcome, a.code) for a in final.attempts] == [
        (1, "execute", AttemptOutcome.COMPLETED, "00"),
        (2, "status", AttemptOutcome.COMPLETED, "00"),
    ]
    assert final.attempts[0].finished_at == t2
    assert final.created_at == T0 and final.updated_at == t2
    assert final.expires_at == T0 + timedelta(minutes=30)
    for value in (final.created_at, final.updated_at, final.expires_at, *(h.at for h in final.history)):
        _assert_utc(value)
    for attempt in final.attempts:
        _assert_utc(attempt.started_at)
        _assert_utc(attempt.finished_at)


def test_an_unknown_payment_is_none(uow_factory: SqlUnitOfWorkFactory) -> None:
    with uow_factory() as uow:
        assert uow.payments.get(uuid.uuid4()) is None


def test_a_stale_save_raises_and_writes_nothing(uow_factory: SqlUnitOfWorkFactory, engine: Engine) -> None:
    payment = make_payment()
    with uow_factory() as uow:
        uow.payments.add(payment)
        uow.commit()
    with uow_factory() as uow:
        stale = uow.payments.get(payment.id)
    assert stale is not None

    t1 = T0 + timedelta(seconds=1)
    with uow_factory() as uow:
        winner = uow.payments.get(payment.id)
        assert winner is not None
        winner.claim("winner", t1, t1 + timedelta(seconds=30))
        winner.start_attempt(t1)
        uow.payments.save(winner)
        uow.commit()

    with uow_factory() as uow:
        stale.claim("loser", t1, t1 + timedelta(seconds=60))
        stale.start_attempt(t1)
        with pytest.raises(ConcurrentUpdate):
            uow.payments.save(stale)
        uow.commit()  # even committed, the failed save left no trace
    assert stale.version == 1 and stale.new_history  # not marked saved

    with uow_factory() as uow:
        stored = uow.payments.get(payment.id)
    assert stored is not None
    assert stored.version == 2 and stored.lease_owner == "winner"
    assert _count(engine, payment_history) == 2
    assert _count(engine, rail_attempts) == 1


def test_find_stalled_returns_processing_payments_whose_lease_expired(uow_factory: SqlUnitOfWorkFactory) -> None:
    now = T0 + timedelta(minutes=5)
    expired_long_ago, expired, live, queued, done = (make_payment() for _ in range(5))
    with uow_factory() as uow:
        for payment in (expired_long_ago, expired, live, queued, done):
            uow.payments.add(payment)
        expired_long_ago.claim("w", T0, now - timedelta(minutes=2))
        expired.claim("w", T0, now - timedelta(seconds=1))
        live.claim("w", T0, now + timedelta(seconds=1))
        done.claim("w", T0, now - timedelta(minutes=3))
        done.complete(T0, "ok", None)
        for payment in (expired_long_ago, expired, live, done):
            uow.payments.save(payment)
        uow.commit()
    with uow_factory() as uow:
        assert uow.payments.find_stalled(now, 10, T0) == [expired_long_ago.id, expired.id]
        assert uow.payments.find_stalled(now, 1, T0) == [expired_long_ago.id]
        assert uow.payments.find_stalled(T0, 10, T0) == []
        # the safety net: the queued payment, untouched since T0, is found once idle_before passes T0
        assert uow.payments.find_stalled(now, 10, T0 + timedelta(seconds=1)) == [
            queued.id,
            expired_long_ago.id,
            expired.id,
        ]
        uow.outbox.add(OutboxMessage(queued.id, "payment.process", now))
        uow.outbox.add(OutboxMessage(expired.id, "payment.process", now))
        assert uow.payments.find_stalled(now, 10, T0 + timedelta(seconds=1)) == [expired_long_ago.id]


def test_a_unit_of_work_left_without_commit_rolls_back(uow_factory: SqlUnitOfWorkFactory, engine: Engine) -> None:
    payment = make_payment()
    with uow_factory() as uow:
        assert uow.idempotency.claim(make_record(), T0)
        uow.payments.add(payment)
        uow.outbox.add(OutboxMessage(payment.id, TOPIC_PROCESS, T0))
    with pytest.raises(RuntimeError), uow_factory() as uow:
        uow.payments.add(make_payment())
        raise RuntimeError("boom")
    with uow_factory() as uow:
        uow.payments.add(make_payment())
        uow.rollback()
        uow.commit()  # nothing left to commit
    for table in (payments, payment_history, outbox):
        assert _count(engine, table) == 0
    with uow_factory() as uow:
        assert uow.payments.get(payment.id) is None
        assert uow.idempotency.get("cl_test", "key-1") is None


def test_history_is_append_only(uow_factory: SqlUnitOfWorkFactory, engine: Engine) -> None:
    payment = make_payment()
    with uow_factory() as uow:
        uow.payments.add(payment)
        uow.commit()
    for statement in (payment_history.update().values(reason="rewritten"), payment_history.delete()):
        with pytest.raises(sqlalchemy.exc.DBAPIError, match="append-only"), engine.begin() as connection:
            connection.execute(statement)
    with uow_factory() as uow:
        stored = uow.payments.get(payment.id)
    assert stored is not None and [h.reason for h in stored.history] == ["accepted"]


def test_a_naive_time_is_refused(uow_factory: SqlUnitOfWorkFactory) -> None:
    payment = make_payment(now=datetime(2026, 1, 1, 12, 0))  # no tzinfo
    with pytest.raises(sqlalchemy.exc.StatementError, match="naive"), uow_factory() as uow:
        uow.payments.add(payment)
