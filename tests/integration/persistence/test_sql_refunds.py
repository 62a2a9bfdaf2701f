"""The refund repository on SQLite and PostgreSQL: the use cases end to end, the guard, events, sweeps."""

from __future__ import annotations

import threading
import uuid
from datetime import timedelta
from typing import Any

import msgspec
import pytest
from sqlalchemy import Engine, select

from flosspay.adapters.http.payments import HTTP_INTAKE
from flosspay.adapters.http.refund_views import accepted_refund_answer
from flosspay.adapters.persistence.tables import outbox, payments, refund_attempts, refund_history, webhook_events
from flosspay.adapters.persistence.unit_of_work import SqlUnitOfWorkFactory
from flosspay.application.accept_payment import PaymentIntent, accept_payment
from flosspay.application.policies import IntakePolicy, ProcessingPolicy
from flosspay.application.process import Disposition, process_payment
from flosspay.application.process_refund import process_refund
from flosspay.application.refund_relay import recover_stalled_refunds
from flosspay.application.refunds import RefundCommand, request_refund
from flosspay.domain.errors import ConcurrentUpdate, ValidationFailed
from flosspay.domain.ledger import EntryKind, refund_entry_id
from flosspay.domain.outbox import TOPIC_REFUND
from flosspay.domain.payment import Flow
from flosspay.domain.rail import Outcome, RefundResult
from flosspay.domain.refund import RefundStatus
from tests.fakes import FakeClock, FakeRail, FakeRailRegistry

pytestmark = pytest.mark.integration


class World:
    def __init__(self, uow_factory: SqlUnitOfWorkFactory) -> None:
        self.uow = uow_factory
        self.rail = FakeRail()
        self.rails = FakeRailRegistry(self.rail)
        self.clock = FakeClock()
        self.policy = ProcessingPolicy(max_attempts=3)
        intent = PaymentIntent(
            "c1", "pay", "fp", "UPI", Flow.PAY, 100, "INR", {"senderUpi": "a@upi", "receiverUpi": "b@upi"}
        )
        accepted = accept_payment(
            intent, uow_factory=uow_factory, rails=self.rails, clock=self.clock, policy=IntakePolicy(), **HTTP_INTAKE
        )
        assert accepted.payment_id is not None
        self.pid = uuid.UUID(accepted.payment_id)
        done = process_payment(
            self.pid, worker="w", uow_factory=uow_factory, rails=self.rails, clock=self.clock, policy=self.policy
        )
        assert done.disposition is Disposition.DONE

    def refund(self, amount: Any = None, key: str = "r1") -> str:
        command = RefundCommand("c1", key, f"fp-{key}", str(self.pid), amount, "damaged")
        accepted = request_refund(
            command,
            uow_factory=self.uow,
            rails=self.rails,
            clock=self.clock,
            policy=IntakePolicy(),
            render=accepted_refund_answer,
        )
        return str(msgspec.json.decode(accepted.answer.body)["id"])

    def process(self, refund_id: str) -> Disposition:
        return process_refund(
            uuid.UUID(refund_id),
            worker="w",
            uow_factory=self.uow,
            rails=self.rails,
            clock=self.clock,
            policy=self.policy,
        ).disposition

    def reserved(self) -> int:
        with self.uow() as uow:
            return uow.refunds.reserved(self.pid)


def test_a_refund_round_trips_succeeds_once_and_posts_its_entry(
    uow_factory: SqlUnitOfWorkFactory, engine: Engine
) -> None:
    w = World(uow_factory)
    rid = w.refund("40.00")
    assert w.reserved() == 4000
    with uow_factory() as uow:
        refund = uow.refunds.get(uuid.UUID(rid))
        assert refund is not None and refund.status is RefundStatus.PENDING and refund.reason == "damaged"
        assert refund.created_at.utcoffset() == timedelta(0)
        assert uow.refunds.get_owned("c2", uuid.UUID(rid)) is None
        assert [r.id for r in uow.refunds.for_payment(w.pid)] == [refund.id]
        assert [r.id for r in uow.refunds.for_client("c1", 10)] == [refund.id]
    with engine.connect() as connection:
        [row] = connection.execute(select(outbox).where(outbox.c.topic == TOPIC_REFUND)).mappings().all()
        assert row["refund_id"] == uuid.UUID(rid) and row["payment_id"] == w.pid
    assert w.process(rid) is Disposition.DONE
    with uow_factory() as uow:
        refund = uow.refunds.get(uuid.UUID(rid))
        assert refund is not None and refund.status is RefundStatus.SUCCEEDED
        assert [(h.from_status, h.to_status) for h in refund.history] == [
            (None, RefundStatus.PENDING),
            (RefundStatus.PENDING, RefundStatus.PROCESSING),
            (RefundStatus.PROCESSING, RefundStatus.SUCCEEDED),
        ]
        assert [(a.number, a.action, a.outcome.value) for a in refund.attempts] == [(1, "refund", "COMPLETED")]
        entry = uow.ledger.get(refund_entry_id(refund.id))
        assert entry is not None and entry.kind is EntryKind.REFUND and entry.payment_id == w.pid
    with engine.connect() as connection:
        assert connection.execute(select(refund_history.c.seq)).scalars().all() == [0, 1, 2]
        assert len(connection.execute(select(refund_attempts)).all()) == 1
        events = connection.execute(
            select(webhook_events.c.id, webhook_events.c.payload).where(webhook_events.c.type == "refund.succeeded")
        ).all()
    [(event_id, payload)] = events  # once, with the refund as GET /refunds/{id} shows it
    assert event_id.startswith("msg_") and msgspec.json.decode(payload)["data"]["ledgerEntryId"] == str(entry.id)
    assert w.rail.refunds_done == {rid: 4000}
    assert w.reserved() == 4000


def test_the_database_refuses_a_reservation_past_the_amount(uow_factory: SqlUnitOfWorkFactory) -> None:
    w = World(uow_factory)
    w.refund("70.00", key="a")
    with pytest.raises(ValidationFailed, match=r"remainder \(30.00\)"):
        w.refund("30.01", key="b")
    with uow_factory() as uow:  # the guard itself, below the use case's own check
        assert uow.refunds.reserve(w.pid, 3001) is False
        assert uow.refunds.reserve(w.pid, 3000) is True
        # Rolled back: nothing committed.
    assert w.reserved() == 7000


def test_a_failed_refund_releases_its_reservation_and_tells_the_merchant(
    uow_factory: SqlUnitOfWorkFactory, engine: Engine
) -> None:
    w = World(uow_factory)
    w.rail.refund_script = [RefundResult(Outcome.DECLINED, "U30", "bank refused")]
    rid = w.refund("60.00")
    assert w.process(rid) is Disposition.DONE
    with uow_factory() as uow:
        refund = uow.refunds.get(uuid.UUID(rid))
        assert refund is not None and refund.status is RefundStatus.FAILED and refund.failure_code == "U30"
    assert w.reserved() == 0
    with engine.connect() as connection:
        [event] = (
            connection.execute(select(webhook_events).where(webhook_events.c.type.like("refund.%"))).mappings().all()
        )
    assert event["type"] == "refund.failed" and event["payment_id"] == w.pid
    payload = msgspec.json.decode(event["payload"])
    assert payload["type"] == "refund.failed" and payload["data"]["id"] == rid
    assert payload["data"]["status"] == "FAILED" and payload["data"]["failureCode"] == "U30"


def test_stale_saves_are_refused(uow_factory: SqlUnitOfWorkFactory) -> None:
    w = World(uow_factory)
    rid = uuid.UUID(w.refund("1"))
    with uow_factory() as uow:
        second = uow.refunds.get(rid)  # read by one worker...
    with uow_factory() as a:  # ...while another claims and saves it
        first = a.refunds.get(rid)
        assert first is not None and second is not None
        first.claim("a", w.clock.now(), w.clock.now())
        a.refunds.save(first)
        a.commit()
    with uow_factory() as b:
        second.claim("b", w.clock.now(), w.clock.now())
        with pytest.raises(ConcurrentUpdate):
            b.refunds.save(second)


def test_the_stalled_sweep_finds_a_dead_workers_refund_once(uow_factory: SqlUnitOfWorkFactory) -> None:
    w = World(uow_factory)
    rid = uuid.UUID(w.refund("1"))
    with uow_factory() as uow:
        uow.outbox.mark_dispatched([m.id for m in uow.outbox.fetch_due(w.clock.now(), 100) if m.id], w.clock.now())
        refund = uow.refunds.get(rid)
        assert refund is not None
        refund.claim("dead", w.clock.now(), w.clock.now() + timedelta(seconds=30))
        uow.refunds.save(refund)
        uow.commit()
    assert recover_stalled_refunds(uow_factory=uow_factory, clock=w.clock) == 0
    w.clock.advance(31)
    assert recover_stalled_refunds(uow_factory=uow_factory, clock=w.clock) == 1
    assert recover_stalled_refunds(uow_factory=uow_factory, clock=w.clock) == 0
    with uow_factory() as uow:
        [message] = [m for m in uow.outbox.fetch_due(w.clock.now(), 100) if m.topic == TOPIC_REFUND]
        assert message.refund_id == rid


@pytest.mark.postgres
def test_concurrent_reservations_on_postgres_never_exceed_the_amount(pg_database_url: str) -> None:
    from flosspay.adapters.persistence.engine import create_engine
    from flosspay.adapters.persistence.migrate import upgrade

    upgrade(pg_database_url)
    engine = create_engine(pg_database_url)
    try:
        factory = SqlUnitOfWorkFactory(engine)
        w = World(factory)
        accepted: list[str] = []
        refused: list[str] = []
        barrier = threading.Barrier(12)

        def one(i: int) -> None:
            barrier.wait()
            try:
                accepted.append(w.refund("15.00", key=f"k{i}"))
            except ValidationFailed:
                refused.append(f"k{i}")

        threads = [threading.Thread(target=one, args=(i,)) for i in range(12)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert len(accepted) == 6 and len(refused) == 6  # 6 x 15.00 = 90.00 fits, a 7th does not
        with engine.connect() as connection:
            reserved = connection.execute(select(payments.c.refund_reserved_minor)).scalar_one()
        assert reserved == 9000
    finally:
        engine.dispose()
