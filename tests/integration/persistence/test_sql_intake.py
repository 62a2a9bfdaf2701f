"""The whole intake use case against the real database: one payment per key, in a few INSERTs."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal
from typing import Any

import msgspec
import psycopg
import pytest
from sqlalchemy import Engine, event, func, select

from flosspay.adapters.http.payments import HTTP_INTAKE
from flosspay.adapters.persistence.tables import idempotency_records, outbox, payment_history, payments
from flosspay.adapters.persistence.unit_of_work import SqlUnitOfWorkFactory
from flosspay.application.accept_payment import PaymentAccepted, PaymentIntent, accept_payment
from flosspay.application.policies import IntakePolicy
from flosspay.domain.errors import IdempotencyConflict, IdempotencyInProgress
from flosspay.domain.payment import Flow
from tests.fakes import FakeClock, FakeRail, FakeRailRegistry

pytestmark = pytest.mark.integration


def _intent(key: str = "key-1", fingerprint: str = "fp-1") -> PaymentIntent:
    return PaymentIntent(
        client_id="cl_test",
        idempotency_key=key,
        fingerprint=fingerprint,
        method="UPI",
        flow=Flow.PAY,
        amount=Decimal("28.00"),
        currency="INR",
        fields={"senderUpi": "alice@upi", "receiverUpi": "bob@upi"},
        note="rent",
    )


def _accept(uow_factory: SqlUnitOfWorkFactory, intent: PaymentIntent) -> PaymentAccepted:
    return accept_payment(
        intent,
        uow_factory=uow_factory,
        rails=FakeRailRegistry(FakeRail()),
        clock=FakeClock(),
        policy=IntakePolicy(),
        **HTTP_INTAKE,
    )


def _counts(engine: Engine) -> dict[str, int]:
    with engine.connect() as connection:
        return {
            table.name: int(connection.execute(select(func.count()).select_from(table)).scalar_one())
            for table in (payments, payment_history, outbox, idempotency_records)
        }


@pytest.fixture
def statements(engine: Engine) -> Iterator[list[str]]:
    """Every SQL statement the engine sends, except BEGIN."""
    sent: list[str] = []

    def record(*args: Any) -> None:
        statement = args[2]
        if not statement.lstrip().upper().startswith("BEGIN"):
            sent.append(statement)

    event.listen(engine, "before_cursor_execute", record)
    yield sent
    event.remove(engine, "before_cursor_execute", record)


def test_an_accepted_payment_is_one_statement_on_postgres_and_four_inserts_on_sqlite(
    uow_factory: SqlUnitOfWorkFactory, engine: Engine, statements: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    sent_to_driver: list[str] = []
    execute = psycopg.Cursor.execute  # every statement psycopg sends, by a connection's execute or a cursor's

    def spy(self, query, params=None, **kwargs):  # type: ignore[no-untyped-def]
        sent_to_driver.append(str(query))
        return execute(self, query, params, **kwargs)

    with uow_factory():  # connected first: the dialect's own first-connect queries are not the intake's
        pass
    monkeypatch.setattr(psycopg.Cursor, "execute", spy)
    accepted = _accept(uow_factory, _intent())
    if engine.dialect.name == "postgresql":
        assert statements == []  # straight to the driver
        [statement] = sent_to_driver  # one round trip: the four inserts are data-modifying CTEs
        assert statement.split()[:6] == ["WITH", "claim", "AS", "(INSERT", "INTO", "idempotency_records"]
        for table in ("payments", "payment_history", "outbox"):
            assert f"INSERT INTO {table} " in statement
    else:
        assert [s.split()[0:3] for s in statements] == [
            ["INSERT", "INTO", "idempotency_records"],
            ["INSERT", "INTO", "payments"],
            ["INSERT", "INTO", "payment_history"],
            ["INSERT", "INTO", "outbox"],
        ]
    assert not accepted.replayed and accepted.answer.status == 200
    assert _counts(engine) == {"payments": 1, "payment_history": 1, "outbox": 1, "idempotency_records": 1}
    with uow_factory() as uow:
        record = uow.idempotency.get("cl_test", "key-1")
        assert accepted.payment_id is not None
        [due] = uow.outbox.fetch_due(FakeClock().now(), 10)
    assert record is not None and record.response_body == accepted.answer.body
    assert str(due.payment_id) == accepted.payment_id
    assert msgspec.json.decode(accepted.answer.body)["id"] == accepted.payment_id


def test_a_replay_returns_the_stored_answer_and_a_different_request_is_refused(
    uow_factory: SqlUnitOfWorkFactory, engine: Engine
) -> None:
    first = _accept(uow_factory, _intent())
    again = _accept(uow_factory, _intent())
    assert again.replayed and (again.answer, again.payment_id) == (first.answer, first.payment_id)
    with pytest.raises(IdempotencyConflict):
        _accept(uow_factory, _intent(fingerprint="another request"))
    assert _counts(engine)["payments"] == 1


def test_fifty_parallel_requests_with_one_key_make_one_payment(
    uow_factory: SqlUnitOfWorkFactory, engine: Engine
) -> None:
    start = threading.Barrier(50)

    def request(_: int) -> str:
        start.wait()
        try:
            accepted = _accept(uow_factory, _intent())
        except IdempotencyInProgress:
            return "in progress"
        assert accepted.payment_id is not None
        return accepted.payment_id

    with ThreadPoolExecutor(50) as pool:
        answers = list(pool.map(request, range(50)))
    ids = {a for a in answers if a != "in progress"}
    assert len(ids) == 1
    assert _counts(engine) == {"payments": 1, "payment_history": 1, "outbox": 1, "idempotency_records": 1}
    with engine.connect() as connection:
        stored = connection.execute(select(payments.c.id)).scalar_one()
    assert ids == {str(stored)}


def test_parallel_requests_with_distinct_keys_all_succeed(uow_factory: SqlUnitOfWorkFactory, engine: Engine) -> None:
    with ThreadPoolExecutor(16) as pool:
        answers = list(pool.map(lambda n: _accept(uow_factory, _intent(key=f"k-{n}")), range(40)))
    assert len({a.payment_id for a in answers}) == 40
    assert not any(a.replayed for a in answers)
    assert _counts(engine) == {"payments": 40, "payment_history": 40, "outbox": 40, "idempotency_records": 40}


def test_the_intake_statement_reuses_one_cursor_per_connection(
    uow_factory: SqlUnitOfWorkFactory, engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A cursor per statement copied the connection's adapters each time (ADR 0024); one per connection is kept."""
    if engine.dialect.name != "postgresql":
        pytest.skip("the intake statement goes straight to psycopg only on PostgreSQL")
    made: list[object] = []
    cursor = psycopg.Connection.cursor

    def spy(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        made.append(self)
        return cursor(self, *args, **kwargs)

    assert not _accept(uow_factory, _intent(key="key-first")).replayed  # connects, makes the cursor
    monkeypatch.setattr(psycopg.Connection, "cursor", spy)
    for n in range(3):
        assert not _accept(uow_factory, _intent(key=f"key-{n}")).replayed
    assert made == []  # the same connection again, and its cursor
