"""Builders for the ledger tests: payments carried out by the real use cases on a SQL database,
and a way to change rows the way a superuser would (append-only triggers out of the way)."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta

import sqlalchemy
from sqlalchemy import Engine, select, text
from sqlalchemy.engine import Connection
from sqlalchemy.pool import NullPool

from flosspay.adapters.http.payments import HTTP_INTAKE
from flosspay.adapters.persistence.engine import parse_url
from flosspay.adapters.persistence.tables import ledger_chain
from flosspay.application.accept_payment import PaymentIntent, accept_payment
from flosspay.application.ledger_audit import verify_database
from flosspay.application.ledger_chain import ChainPolicy, chain_all
from flosspay.application.policies import IntakePolicy, ProcessingPolicy
from flosspay.application.process import process_payment
from flosspay.domain.money import Money
from flosspay.domain.payment import Flow, Payment
from flosspay.domain.ports import UnitOfWork, UnitOfWorkFactory
from flosspay.domain.rail import Outcome, RailResult
from flosspay.ledger_verify import Report
from tests.fakes import FakeClock, FakeRail, FakeRailRegistry

_COUNT_SOURCES = (
    "SELECT (SELECT count(*) FROM payment_history) + (SELECT count(*) FROM refund_history) "
    "+ (SELECT count(*) FROM ledger_entries)"
)
POLICY = ProcessingPolicy(max_attempts=3, lease=timedelta(seconds=30), poll_interval=timedelta(seconds=2))


class LedgerWorld:
    """Payments accepted and processed by the application's use cases against a fake rail."""

    def __init__(self, uow_factory: UnitOfWorkFactory) -> None:
        self.uow = uow_factory
        self.rail = FakeRail()
        self.rails = FakeRailRegistry(self.rail)
        self.clock = FakeClock()

    def accept(self, amount: int = 2800, flow: Flow = Flow.PAY, sender: str = "alice@upi") -> uuid.UUID:
        self.clock.advance(1)
        intent = PaymentIntent(
            "cl_ledger",
            uuid.uuid4().hex,
            "fp",
            "UPI",
            flow,
            amount,
            "INR",
            {"senderUpi": sender, "receiverUpi": "bob@upi"},
        )
        accepted = accept_payment(
            intent, uow_factory=self.uow, rails=self.rails, clock=self.clock, policy=IntakePolicy(), **HTTP_INTAKE
        )
        assert accepted.payment_id is not None
        return uuid.UUID(accepted.payment_id)

    def accept_in(self, uow: UnitOfWork, amount: int) -> uuid.UUID:
        """Add an accepted payment inside ``uow`` (the caller commits, or not)."""
        self.clock.advance(1)
        payment = Payment.accept(
            id=uuid.uuid4(),
            client_id="cl_ledger",
            flow=Flow.PAY,
            method="UPI",
            rail="upi",
            amount=Money(amount * 100, "INR"),
            details={"senderUpi": "carol@upi", "receiverUpi": "bob@upi"},
            public={},
            note=None,
            now=self.clock.now(),
            payer_account="upi:vpa:carol@upi",
            payee_account="upi:vpa:bob@upi",
        )
        uow.payments.add(payment)
        return payment.id

    def process(self, payment_id: uuid.UUID, *results: RailResult) -> None:
        self.rail.script = list(results)
        self.clock.advance(1)
        process_payment(
            payment_id,
            worker="w1",
            uow_factory=self.uow,
            rails=self.rails,
            clock=self.clock,
            policy=POLICY,
        )

    def pay(self, amount: int = 2800, *results: RailResult, flow: Flow = Flow.PAY) -> uuid.UUID:
        payment_id = self.accept(amount, flow)
        self.process(payment_id, *results)
        return payment_id

    def populate(self) -> dict[str, uuid.UUID]:
        """Three completed payments (one a collect), one declined, one still queued; all chained."""
        ids = {
            "paid": self.pay(2800),
            "declined": self.pay(1500, RailResult(Outcome.DECLINED, "Z9", "insufficient funds")),
            "collected": self.pay(990, flow=Flow.COLLECT),
            "big": self.pay(1_000_000),
            "queued": self.accept(4200),
        }
        self.chain()
        return ids

    def chain(self, batch: int = 1000, wait_seconds: float = 30.0) -> int:
        """Chain everything committed. On the shared PostgreSQL server another test's open transaction
        (in any database: transaction ids are the cluster's) holds the chainer back, so wait for it."""
        total = 0
        deadline = time.monotonic() + wait_seconds
        while True:
            policy = ChainPolicy(batch=batch, checkpoint_every=0)
            total += chain_all(uow_factory=self.uow, clock=self.clock, policy=policy)
            if self._all_chained() or time.monotonic() > deadline:
                return total
            time.sleep(0.05)

    def _all_chained(self) -> bool:
        with self.uow() as uow:
            db = uow._db  # type: ignore[attr-defined]  # the SQL unit of work's connection
            sources = db.execute(text(_COUNT_SOURCES)).scalar_one()
            chained = db.execute(text("SELECT count(*) FROM ledger_chain")).scalar_one()
        return bool(chained >= sources)

    def verify(self) -> Report:
        return verify_database(uow_factory=self.uow, clock=self.clock, chain_first=False)


def seq_of_history(engine: Engine, payment_id: uuid.UUID, index: int) -> int:
    with engine.connect() as connection:
        query = select(ledger_chain.c.seq).where(
            ledger_chain.c.payment_id == payment_id, ledger_chain.c.history_seq == index
        )
        return int(connection.execute(query).scalar_one())


def seq_of_entry(engine: Engine, entry_id: uuid.UUID) -> int:
    with engine.connect() as connection:
        query = select(ledger_chain.c.seq).where(ledger_chain.c.entry_id == entry_id)
        return int(connection.execute(query).scalar_one())


@contextmanager
def as_superuser(database_url: str) -> Iterator[Connection]:
    """A connection whose writes skip the append-only triggers, committed at the end.

    PostgreSQL: ``session_replication_role = replica`` (what a superuser can do). SQLite: the
    triggers are dropped and created again, in the same transaction.
    """
    engine = sqlalchemy.create_engine(parse_url(database_url), poolclass=NullPool)
    try:
        with engine.connect() as connection:
            if connection.dialect.name == "postgresql":
                connection.exec_driver_sql("SET session_replication_role = replica")
                yield connection
                connection.commit()
                return
            triggers = connection.exec_driver_sql("SELECT name, sql FROM sqlite_master WHERE type = 'trigger'").all()
            for name, _ in triggers:
                connection.exec_driver_sql(f"DROP TRIGGER {name}")
            yield connection
            for _, sql in triggers:
                connection.exec_driver_sql(sql)
            connection.commit()
    finally:
        engine.dispose()
