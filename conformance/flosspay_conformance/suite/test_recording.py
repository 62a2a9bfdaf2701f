"""FlossPay can record whatever the rail accepts: its largest valid request (longest fields, largest
amount) is accepted, processed to a final state and recorded, on SQLite and on PostgreSQL.

A rail that accepts a field the database or the ledger cannot store would let money move and then
never be recorded; this runs the rail through FlossPay's own use cases and schema to prove it cannot.
PostgreSQL comes from ``FLOSSPAY_TEST_DATABASE_URL`` (default the local server's ``test`` database);
without it that case is skipped, or fails under ``FLOSSPAY_REQUIRE_SERVICES=1``.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from flosspay.railapi import Flow, Rail
from flosspay_conformance.driver import RailDriver, new_case

PG_URL = os.environ.get("FLOSSPAY_TEST_DATABASE_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
FINAL = frozenset({"COMPLETED", "FAILED", "DECLINED", "EXPIRED"})


class _OneRail:
    """The RailRegistry port with just the rail under test."""

    def __init__(self, rail: Rail) -> None:
        self.rail = rail

    def get(self, name: str) -> Rail | None:
        return self.rail if name == self.rail.name else None

    def by_method(self, method: str) -> Rail | None:
        return self.rail if method == self.rail.method else None

    def methods(self) -> list[str]:
        return [self.rail.method]


def _postgres_database() -> Iterator[str]:
    import sqlalchemy
    from sqlalchemy.engine import make_url
    from sqlalchemy.pool import NullPool

    admin = sqlalchemy.create_engine(make_url(PG_URL), isolation_level="AUTOCOMMIT", poolclass=NullPool)
    name = f"flosspay_conf_{uuid.uuid4().hex[:12]}"
    try:
        with admin.connect() as connection:
            connection.exec_driver_sql(f"CREATE DATABASE {name}")
    except sqlalchemy.exc.OperationalError:
        admin.dispose()
        message = f"PostgreSQL is not reachable at {PG_URL} (set FLOSSPAY_TEST_DATABASE_URL)"
        if os.environ.get("FLOSSPAY_REQUIRE_SERVICES") == "1":
            pytest.fail(message, pytrace=False)
        pytest.skip(message)
    try:
        yield make_url(PG_URL).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as connection:
            connection.exec_driver_sql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        admin.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def recording_database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A FlossPay database migrated to the current schema, of this test's own."""
    from flosspay.adapters.persistence.migrate import upgrade

    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'recording.db'}"
        upgrade(url)
        yield url
        return
    for url in _postgres_database():
        upgrade(url)
        yield url


def test_the_largest_valid_request_is_processed_to_a_final_state_and_recorded(
    rail_driver: RailDriver, recording_database: str
) -> None:
    from flosspay.adapters.clock import SystemClock
    from flosspay.adapters.http.payments import HTTP_INTAKE
    from flosspay.adapters.persistence.engine import create_engine
    from flosspay.adapters.persistence.unit_of_work import SqlUnitOfWorkFactory
    from flosspay.application.accept_payment import PaymentIntent, accept_payment
    from flosspay.application.policies import IntakePolicy, ProcessingPolicy
    from flosspay.application.process import process_payment
    from flosspay.domain.errors import ValidationFailed

    scenarios = rail_driver.scenarios
    case = new_case()
    fields = rail_driver.fields("largest", case)
    amount = scenarios.largest_amount or scenarios.amount
    rail = rail_driver.rail
    engine = create_engine(recording_database)
    uow_factory = SqlUnitOfWorkFactory(engine)
    registry = _OneRail(rail)
    clock = SystemClock()
    try:
        intent = PaymentIntent(
            client_id="conformance",
            idempotency_key=f"largest-{case}",
            fingerprint=case,
            method=rail.method,
            flow=Flow.PAY,
            amount=Decimal(amount.minor).scaleb(-amount.exponent),
            currency=amount.currency,
            fields=dict(fields),
        )
        try:
            accepted = accept_payment(
                intent, uow_factory=uow_factory, rails=registry, clock=clock, policy=IntakePolicy(), **HTTP_INTAKE
            )
        except ValidationFailed as exc:
            pytest.fail(f"FlossPay refused the rail's largest valid request: {exc.errors!r}", pytrace=False)
        assert accepted.payment_id is not None
        payment_id = uuid.UUID(accepted.payment_id)
        policy = ProcessingPolicy(max_attempts=5, lease=timedelta(seconds=30), poll_interval=timedelta(seconds=0))
        for _ in range(20):
            result = process_payment(
                payment_id,
                worker="conformance",
                uow_factory=uow_factory,
                rails=registry,
                clock=clock,
                policy=policy,
            )
            with uow_factory() as uow:
                payment = uow.payments.get(payment_id)
                assert payment is not None
                entry = uow.ledger.payment_entry_id(payment_id)
            assert not payment.is_parked, f"the payment was dead-lettered: {payment.parked_reason}"
            if payment.status.value in FINAL:
                break
        assert payment.status.value == "COMPLETED", f"the largest valid request ended {payment.status}: {result}"
        assert entry is not None, "COMPLETED without its journal entry: the outcome was not recorded"
    finally:
        engine.dispose()
