"""Saving a payment with everything it causes: one statement on PostgreSQL, statement by statement on SQLite.

Both must store the same rows, write nothing at all when the version is stale, and let exactly one of
two concurrent saves of one version win (ADR 0015).
"""

from __future__ import annotations

import threading
import uuid
from datetime import datetime, timedelta
from typing import Any

import pytest
import sqlalchemy
from sqlalchemy import Engine, func, select

from flosspay.adapters.persistence.tables import (
    ledger_entries,
    ledger_postings,
    payment_history,
    payments,
    rail_attempts,
    webhook_deliveries,
    webhook_events,
)
from flosspay.adapters.persistence.unit_of_work import SqlUnitOfWorkFactory
from flosspay.adapters.persistence.webhooks import payment_event
from flosspay.domain.errors import ConcurrentUpdate
from flosspay.domain.ledger import completed_payment_entry, payment_entry_id
from flosspay.domain.payment import AttemptOutcome, Payment, PaymentStatus
from flosspay.domain.webhooks import EventType
from tests.integration.persistence.support import T0, make_payment
from tests.integration.webhooks.support import add_endpoint

pytestmark = pytest.mark.integration

WRITTEN = (payment_history, rail_attempts, webhook_events, webhook_deliveries, ledger_entries, ledger_postings)


def _counts(engine: Engine) -> dict[str, int]:
    with engine.connect() as connection:
        return {t.name: int(connection.execute(select(func.count()).select_from(t)).scalar_one()) for t in WRITTEN}


def _rows(engine: Engine, table: sqlalchemy.Table, **where: Any) -> list[dict[str, Any]]:
    query = select(table).where(*(table.c[k] == v for k, v in where.items()))
    with engine.connect() as connection:
        return [dict(r) for r in connection.execute(query).mappings()]


def _claimed(uow_factory: SqlUnitOfWorkFactory) -> Payment:
    payment = make_payment(client_id="cl_save")
    with uow_factory() as uow:
        uow.payments.add(payment)
        uow.commit()
    with uow_factory() as uow:
        payment.claim("w1", T0, T0 + timedelta(seconds=30))
        payment.start_attempt(T0)
        uow.payments.save(payment)
        uow.commit()
    return payment


def _complete(payment: Payment) -> Any:
    at = T0 + timedelta(seconds=1)
    payment.finish_attempt(1, AttemptOutcome.COMPLETED, "00", "approved", at)
    payment.complete(at, "rail confirmed (00)", 1)
    return completed_payment_entry(payment, at)


def test_a_completion_stores_its_history_attempt_events_deliveries_and_journal_entry(
    uow_factory: SqlUnitOfWorkFactory, engine: Engine
) -> None:
    hears = add_endpoint(uow_factory, "https://a.example/hook", T0, client_id="cl_save")
    add_endpoint(uow_factory, "https://b.example/hook", T0, client_id="cl_save", events=(EventType.PAYMENT_FAILED,))
    add_endpoint(uow_factory, "https://c.example/hook", T0, client_id="cl_other")
    payment = _claimed(uow_factory)
    assert payment.version == 2
    entry = _complete(payment)
    with uow_factory() as uow:
        uow.payments.save(payment, entry)
        uow.commit()
    assert payment.version == 3 and payment.new_history == [] and not payment.touched_attempts

    with uow_factory() as uow:
        stored = uow.payments.get(payment.id)
        ledger = uow.ledger.get(payment_entry_id(payment.id))
        assert uow.ledger.balance("upi:vpa:bob@upi") == {"INR": 2800}
    assert stored is not None and stored.status is PaymentStatus.COMPLETED and stored.version == 3
    assert stored.lease_owner is None
    assert [h.to_status for h in stored.history] == [
        PaymentStatus.QUEUED,
        PaymentStatus.PROCESSING,
        PaymentStatus.COMPLETED,
    ]
    assert [(a.number, a.outcome, a.code, a.reason) for a in stored.attempts] == [
        (1, AttemptOutcome.COMPLETED, "00", "approved")
    ]
    assert ledger == entry
    (event,) = _rows(engine, webhook_events, payment_id=payment.id, type=EventType.PAYMENT_COMPLETED.value)
    assert b'"status":"COMPLETED"' in bytes(event["payload"]) and event["client_id"] == "cl_save"
    deliveries = _rows(engine, webhook_deliveries, event_id=event["id"])
    assert [(d["endpoint_id"], d["status"], d["attempts"]) for d in deliveries] == [(hears.id, "PENDING", 0)]
    assert deliveries[0]["next_attempt_at"] == event["created_at"]


def test_a_stale_save_with_an_entry_writes_nothing_at_all(uow_factory: SqlUnitOfWorkFactory, engine: Engine) -> None:
    add_endpoint(uow_factory, "https://a.example/hook", T0, client_id="cl_save")
    payment = _claimed(uow_factory)
    with uow_factory() as uow:
        other = uow.payments.get(payment.id)
    assert other is not None
    other.release(T0)
    with uow_factory() as uow:
        uow.payments.save(other)  # another worker saved first: ``payment``'s version is stale
        uow.commit()
    before = _counts(engine)
    entry = _complete(payment)
    with uow_factory() as uow:
        with pytest.raises(ConcurrentUpdate):
            uow.payments.save(payment, entry)
        uow.commit()  # even committing what is left stores none of it
    assert _counts(engine) == before
    assert payment.version == 2 and payment.new_history  # nothing was marked saved
    (row,) = _rows(engine, payments, id=payment.id)
    assert row["status"] == "PROCESSING" and row["version"] == 3 and row["lease_owner"] is None


def test_an_event_already_stored_is_not_fanned_out_again(uow_factory: SqlUnitOfWorkFactory, engine: Engine) -> None:
    add_endpoint(uow_factory, "https://a.example/hook", T0, client_id="cl_save")
    first = make_payment(client_id="cl_save")
    with uow_factory() as uow:
        uow.payments.add(first)
        uow.commit()
    for worker in ("w1", "w2"):  # PROCESSING twice (a poll): the first of each event only
        with uow_factory() as uow:
            loaded = uow.payments.get(first.id)
            assert loaded is not None
            loaded.claim(worker, T0, T0 + timedelta(seconds=30))
            attempt = loaded.start_attempt(T0, "status")
            loaded.finish_attempt(attempt.number, AttemptOutcome.ACTION_REQUIRED, "91", "approve it", T0)
            loaded.require_action("approve it", T0, attempt.number, {"type": "redirect", "url": "https://x.example"})
            uow.payments.save(loaded)
            uow.commit()
    events = _rows(engine, webhook_events, payment_id=first.id)
    assert [e["type"] for e in events] == [EventType.PAYMENT_ACTION_REQUIRED.value]
    assert len(_rows(engine, webhook_deliveries, event_id=events[0]["id"])) == 1
    with uow_factory() as uow:
        loaded = uow.payments.get(first.id)
    assert loaded is not None and loaded.next_action == {"type": "redirect", "url": "https://x.example"}
    assert [a.number for a in loaded.attempts] == [1]  # the poll continued the waiting attempt


def test_an_event_stored_before_keeps_its_deliveries_and_the_save_still_succeeds(
    uow_factory: SqlUnitOfWorkFactory, engine: Engine
) -> None:
    add_endpoint(uow_factory, "https://a.example/hook", T0, client_id="cl_save")
    payment = _claimed(uow_factory)
    entry = _complete(payment)
    early = payment_event(payment, EventType.PAYMENT_COMPLETED, T0)  # as a crashed earlier save left it
    with uow_factory() as uow:
        uow.webhooks.add_event(early)
        uow.commit()
    with uow_factory() as uow:
        uow.payments.save(payment, entry)
        uow.commit()
    (event,) = _rows(engine, webhook_events, payment_id=payment.id)
    assert bytes(event["payload"]) == early.payload and event["created_at"] == T0
    assert len(_rows(engine, webhook_deliveries, event_id=early.id)) == 1
    assert _rows(engine, payments, id=payment.id)[0]["status"] == "COMPLETED"


@pytest.mark.postgres
def test_two_concurrent_saves_of_one_version_one_wins(uow_factory: SqlUnitOfWorkFactory, engine: Engine) -> None:
    if engine.dialect.name != "postgresql":
        pytest.skip("SQLite serializes writers: no two saves are ever in flight at once")
    payment = _claimed(uow_factory)
    with uow_factory() as uow:
        copies = [uow.payments.get(payment.id), uow.payments.get(payment.id)]
    assert all(c is not None for c in copies)
    entries = [_complete(c) for c in copies if c is not None]
    barrier = threading.Barrier(2)
    outcomes: list[str] = []
    holding = threading.Event()

    def save(copy: Payment, entry: Any, first: bool) -> None:
        with uow_factory() as uow:
            barrier.wait()
            if not first:
                holding.wait(10)  # the first holds the row lock now
            try:
                uow.payments.save(copy, entry)
            except ConcurrentUpdate:
                outcomes.append("stale")
                return
            if first:
                holding.set()
                threading.Event().wait(0.3)  # the second is waiting on the row lock
            uow.commit()
            outcomes.append("saved")

    threads = [
        threading.Thread(target=save, args=(copies[i], entries[i], i == 0)) for i in range(2) if copies[i] is not None
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert sorted(outcomes) == ["saved", "stale"]
    assert len(_rows(engine, ledger_entries, payment_id=payment.id)) == 1
    assert len(_rows(engine, ledger_postings, entry_id=payment_entry_id(payment.id))) == 4
    assert [h["to_status"] for h in _rows(engine, payment_history, payment_id=payment.id)].count("COMPLETED") == 1


def test_a_naive_time_in_a_saved_row_is_refused_and_nothing_is_written(
    uow_factory: SqlUnitOfWorkFactory, engine: Engine
) -> None:
    payment = _claimed(uow_factory)
    before = _counts(engine)
    naive = datetime(2026, 1, 1, 12, 0, 1)  # no tzinfo
    payment.finish_attempt(1, AttemptOutcome.COMPLETED, "00", "approved", naive)
    with pytest.raises((ValueError, sqlalchemy.exc.StatementError), match="naive"), uow_factory() as uow:
        uow.payments.save(payment)
    assert _counts(engine) == before
    assert _rows(engine, payments, id=payment.id)[0]["version"] == 2


def test_a_naive_time_on_the_payment_row_is_refused_and_nothing_is_written(
    uow_factory: SqlUnitOfWorkFactory, engine: Engine
) -> None:
    """The row's own times are parameters, not JSON: refused as the rows' are (ADR 0025)."""
    payment = _claimed(uow_factory)
    before = _counts(engine)
    payment.lease_expires_at = datetime(2026, 1, 1, 12, 5)  # no tzinfo
    with pytest.raises((ValueError, sqlalchemy.exc.StatementError), match="naive"), uow_factory() as uow:
        uow.payments.save(payment)
    assert _counts(engine) == before
    assert _rows(engine, payments, id=payment.id)[0]["version"] == 2


def test_a_payment_reads_back_whole_with_utc_times_and_only_for_its_owner(uow_factory: SqlUnitOfWorkFactory) -> None:
    payment = _claimed(uow_factory)  # one attempt still open: finished_at and outcome pending
    with uow_factory() as uow:
        loaded = uow.payments.get(payment.id)
        owned = uow.payments.get_owned("cl_save", payment.id)
        assert uow.payments.get_owned("cl_other", payment.id) is None
        assert uow.payments.get(uuid.uuid4()) is None
    assert loaded is not None and owned is not None
    for copy in (loaded, owned):
        assert copy.version == 2 and copy.lease_owner == "w1"
        assert copy.lease_expires_at == T0 + timedelta(seconds=30)
        assert copy.lease_expires_at is not None and copy.lease_expires_at.utcoffset() == timedelta(0)
        assert [(h.from_status, h.to_status, h.at, h.attempt) for h in copy.history] == [
            (None, PaymentStatus.QUEUED, T0, None),
            (PaymentStatus.QUEUED, PaymentStatus.PROCESSING, T0, None),
        ]
        assert all(h.at.utcoffset() == timedelta(0) for h in copy.history)
        assert [(a.number, a.action, a.outcome, a.started_at, a.finished_at) for a in copy.attempts] == [
            (1, "execute", AttemptOutcome.STARTED, T0, None)
        ]
        assert copy.details == payment.details and copy.amount == payment.amount
