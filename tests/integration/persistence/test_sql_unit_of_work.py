"""The unit of work's transaction: the same on the psycopg path and SQLAlchemy's (ADR 0025).

On PostgreSQL a unit of work holds the pool's connection and wraps it in SQLAlchemy's Connection only
when a SQLAlchemy statement runs; both kinds of statement must share one transaction, committed only
when told, and a connection the server dropped must not fail the next unit of work.
"""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import Engine

from flosspay.adapters.persistence.unit_of_work import SqlUnitOfWork, SqlUnitOfWorkFactory
from flosspay.domain.errors import ServiceUnavailable
from flosspay.domain.outbox import TOPIC_PROCESS, OutboxMessage
from tests.integration.persistence.support import T0, make_payment
from tests.integration.persistence.test_sql_availability import _terminate_sessions

pytestmark = pytest.mark.integration


def _stored(uow_factory: SqlUnitOfWorkFactory, payment_id: uuid.UUID) -> tuple[bool, int]:
    with uow_factory() as uow:
        payment = uow.payments.get(payment_id)
        due = [m for m in uow.outbox.fetch_due(T0.replace(year=2100), 1000) if m.payment_id == payment_id]
    return payment is not None and payment.version == 2, len(due)


def _stored_payment(uow_factory: SqlUnitOfWorkFactory) -> uuid.UUID:
    payment = make_payment()
    with uow_factory() as uow:
        uow.payments.add(payment)
        uow.commit()
    return payment.id


def _claim(uow: SqlUnitOfWork, payment_id: uuid.UUID) -> None:
    loaded = uow.payments.get(payment_id)  # psycopg, straight
    assert loaded is not None
    loaded.claim("w1", T0, T0.replace(hour=13))
    uow.payments.save(loaded)  # psycopg, straight


def _claimed_and_scheduled(uow_factory: SqlUnitOfWorkFactory, commit: bool) -> uuid.UUID:
    payment_id = _stored_payment(uow_factory)
    with uow_factory() as uow:
        _claim(uow, payment_id)
        uow.outbox.add(OutboxMessage(payment_id, TOPIC_PROCESS, T0))  # SQLAlchemy, on the same connection
        if commit:
            uow.commit()
    return payment_id


def test_driver_and_sqlalchemy_statements_commit_together(uow_factory: SqlUnitOfWorkFactory) -> None:
    assert _stored(uow_factory, _claimed_and_scheduled(uow_factory, commit=True)) == (True, 1)


def test_leaving_without_commit_rolls_both_back(uow_factory: SqlUnitOfWorkFactory) -> None:
    assert _stored(uow_factory, _claimed_and_scheduled(uow_factory, commit=False)) == (False, 0)


def test_an_explicit_rollback_undoes_driver_statements(uow_factory: SqlUnitOfWorkFactory) -> None:
    payment_id = _stored_payment(uow_factory)
    with uow_factory() as uow:
        _claim(uow, payment_id)
        uow.rollback()
        again = uow.payments.get(payment_id)  # a new transaction on the same connection
        assert again is not None and again.version == 1
        uow.commit()


@pytest.mark.postgres
@pytest.mark.parametrize("database_url", ["postgres"], indirect=True)
def test_a_dropped_connection_replaces_every_pooled_one(
    database_url: str, uow_factory: SqlUnitOfWorkFactory, engine: Engine, pg_admin_engine: Engine
) -> None:
    """As SQLAlchemy does for its own statements: one disconnect seen, the connections opened before it go."""
    with uow_factory() as a, uow_factory() as b, uow_factory() as c:  # three pooled connections
        for uow in (a, b, c):
            uow.payments.get(uuid.uuid4())
    _terminate_sessions(pg_admin_engine, database_url)
    with pytest.raises(ServiceUnavailable, match="database unavailable"), uow_factory() as uow:
        uow.payments.get(uuid.uuid4())
    with uow_factory() as a, uow_factory() as b, uow_factory() as c:  # none of them is a dead one
        for uow in (a, b, c):
            assert uow.payments.get(uuid.uuid4()) is None
    assert engine.pool.checkedout() == 0  # type: ignore[attr-defined]
