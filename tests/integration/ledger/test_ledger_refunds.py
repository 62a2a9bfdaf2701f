"""Refunds on the ledger, on both backends: refund history chained like a payment's, refund entries
verified, tampering with either found at its sequence number, and a reversal after refunds.

The refunds themselves are written here as the refunds code writes them (rows, history, the
reservation on the payment, the entry in the transaction that marks the refund SUCCEEDED).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable

import pytest
from sqlalchemy import Engine, delete, select, text, update
from sqlalchemy.engine import Connection

from flosspay.adapters.persistence.ledger import entry_row, posting_rows
from flosspay.adapters.persistence.tables import (
    ledger_chain,
    ledger_entries,
    ledger_postings,
    payments,
    refund_history,
    refunds,
)
from flosspay.adapters.persistence.unit_of_work import SqlUnitOfWorkFactory
from flosspay.application.ledger_audit import export_lines
from flosspay.application.ledger_corrections import reverse_entry
from flosspay.domain.ledger import EntryKind, LedgerError, payment_entry_id, refund_entry, refund_entry_id
from flosspay.domain.money import Money
from flosspay.ledger_verify import verify_lines
from tests.integration.ledger.support import LedgerWorld, as_superuser, seq_of_entry

pytestmark = pytest.mark.integration

RESERVE = (
    "UPDATE payments SET refund_reserved_minor = refund_reserved_minor + :x "
    "WHERE id = :id AND refund_reserved_minor + :x <= amount_minor"
)


class Refunds:
    """Refunds of ``world``'s payments, written straight to the database."""

    def __init__(self, world: LedgerWorld, engine: Engine, uow_factory: SqlUnitOfWorkFactory) -> None:
        self.world, self.engine, self.uow = world, engine, uow_factory

    def _history(self, connection: Connection, rid: uuid.UUID, seq: int, frm: str | None, to: str) -> None:
        self.world.clock.advance(1)
        at = self.world.clock.now()
        row = {"refund_id": rid, "seq": seq, "from_status": frm, "to_status": to, "at": at, "reason": to.lower()}
        connection.execute(refund_history.insert(), row)
        connection.execute(update(refunds).where(refunds.c.id == rid).values(status=to, updated_at=at))

    def start(self, payment_id: uuid.UUID, amount: int) -> uuid.UUID | None:
        """PENDING, then PROCESSING; None when the reservation refuses it (more than is refundable)."""
        rid = uuid.uuid4()
        with self.engine.begin() as connection:
            if connection.execute(text(RESERVE), {"x": amount, "id": _key(connection, payment_id)}).rowcount != 1:
                return None
            at = self.world.clock.now()
            connection.execute(
                refunds.insert(),
                {
                    "id": rid,
                    "payment_id": payment_id,
                    "client_id": "cl_ledger",
                    "amount_minor": amount,
                    "currency": "INR",
                    "status": "PENDING",
                    "created_at": at,
                    "updated_at": at,
                    "version": 1,
                },
            )
            self._history(connection, rid, 0, None, "PENDING")
        with self.engine.begin() as connection:
            self._history(connection, rid, 1, "PENDING", "PROCESSING")
        return rid

    def succeed(self, payment_id: uuid.UUID, rid: uuid.UUID, amount: int) -> None:
        with self.uow() as uow:
            payment_entry = uow.ledger.get(payment_entry_id(payment_id))
        assert payment_entry is not None
        entry = refund_entry(payment_entry, rid, Money(amount, "INR"), self.world.clock.now())
        with self.engine.begin() as connection:
            self._history(connection, rid, 2, "PROCESSING", "SUCCEEDED")  # the row first, then its entry
            connection.execute(ledger_entries.insert(), entry_row(entry))
            connection.execute(ledger_postings.insert(), posting_rows(entry))

    def fail(self, payment_id: uuid.UUID, rid: uuid.UUID, amount: int) -> None:
        with self.engine.begin() as connection:
            self._history(connection, rid, 2, "PROCESSING", "FAILED")
            connection.execute(
                text("UPDATE payments SET refund_reserved_minor = refund_reserved_minor - :x WHERE id = :id"),
                {"x": amount, "id": _key(connection, payment_id)},
            )

    def refund(self, payment_id: uuid.UUID, amount: int) -> uuid.UUID:
        rid = self.start(payment_id, amount)
        assert rid is not None
        self.succeed(payment_id, rid, amount)
        return rid


def _key(connection: Connection, payment_id: uuid.UUID) -> str:
    return payment_id.hex if connection.dialect.name == "sqlite" else str(payment_id)


def seq_of_refund_history(engine: Engine, refund_id: uuid.UUID, index: int) -> int:
    with engine.connect() as connection:
        query = select(ledger_chain.c.seq).where(
            ledger_chain.c.refund_id == refund_id, ledger_chain.c.history_seq == index
        )
        return int(connection.execute(query).scalar_one())


@pytest.fixture
def refunded(engine: Engine, uow_factory: SqlUnitOfWorkFactory) -> tuple[LedgerWorld, Refunds, dict[str, uuid.UUID]]:
    world = LedgerWorld(uow_factory)
    ids = world.populate()
    money = Refunds(world, engine, uow_factory)
    paid = ids["paid"]  # 2800.00 INR
    ids["r1"] = money.refund(paid, 50_000)
    failed = money.start(paid, 200_000)
    assert failed is not None
    money.fail(paid, failed, 200_000)
    ids["r_failed"] = failed
    ids["r2"] = money.refund(paid, 30_000)
    world.chain()
    return world, money, ids


def test_refund_history_and_entries_are_chained_in_order_and_verify(
    engine: Engine, refunded: tuple[LedgerWorld, Refunds, dict[str, uuid.UUID]]
) -> None:
    world, _, ids = refunded
    report = world.verify()
    assert report.ok, report.problems
    with engine.connect() as connection:
        kinds = connection.execute(select(ledger_chain.c.kind).order_by(ledger_chain.c.seq)).scalars().all()
    assert kinds.count("refund_history") == 9
    # Each SUCCEEDED row is chained right before its refund's entry (same transaction, row first).
    for rid in (ids["r1"], ids["r2"]):
        assert seq_of_entry(engine, refund_entry_id(rid)) == seq_of_refund_history(engine, rid, 2) + 1
    offline = verify_lines(list(export_lines(uow_factory=world.uow, clock=world.clock)))
    assert offline.ok and offline.head_hash == report.head_hash


TAMPERS: dict[str, tuple[Callable[[Connection, dict[str, uuid.UUID]], object], str, int]] = {
    "refund status": (
        lambda c, ids: c.execute(
            update(refund_history)
            .where(refund_history.c.refund_id == ids["r_failed"], refund_history.c.seq == 2)
            .values(to_status="SUCCEEDED")
        ),
        "r_failed",
        2,
    ),
    "refund amount": (
        lambda c, ids: c.execute(update(refunds).where(refunds.c.id == ids["r1"]).values(amount_minor=1)),
        "r1",
        0,
    ),
    "refund entry posting": (
        lambda c, ids: c.execute(
            update(ledger_postings)
            .where(ledger_postings.c.entry_id == refund_entry_id(ids["r2"]), ledger_postings.c.line == 3)
            .values(amount_minor=ledger_postings.c.amount_minor + 1)
        ),
        "r2",
        -1,
    ),
    "deleted refund history row": (
        lambda c, ids: c.execute(
            delete(refund_history).where(refund_history.c.refund_id == ids["r2"], refund_history.c.seq == 1)
        ),
        "r2",
        1,
    ),
}


@pytest.mark.parametrize("kind", list(TAMPERS))
def test_tampering_with_a_refund_is_found_at_its_seq(
    kind: str, database_url: str, engine: Engine, refunded: tuple[LedgerWorld, Refunds, dict[str, uuid.UUID]]
) -> None:
    world, _, ids = refunded
    change, name, index = TAMPERS[kind]
    rid = ids[name]
    expected = seq_of_entry(engine, refund_entry_id(rid)) if index < 0 else seq_of_refund_history(engine, rid, index)
    with as_superuser(database_url) as connection:
        change(connection, ids)
    report = world.verify()
    assert not report.ok
    first = report.problems[0]
    assert first.seq == expected, report.problems
    assert "hash mismatch" in first.what or "source record missing" in first.what, report.problems


def test_a_reversal_after_refunds_moves_what_is_left_and_closes_the_payment_to_refunds(
    engine: Engine, uow_factory: SqlUnitOfWorkFactory, refunded: tuple[LedgerWorld, Refunds, dict[str, uuid.UUID]]
) -> None:
    world, money, ids = refunded
    paid = ids["paid"]
    in_flight = money.start(paid, 10_000)
    assert in_flight is not None
    with pytest.raises(LedgerError, match="refund pending or processing"):
        reverse_entry(payment_entry_id(paid), "chargeback", uow_factory=uow_factory, clock=world.clock)
    money.fail(paid, in_flight, 10_000)
    reversal = reverse_entry(payment_entry_id(paid), "chargeback", uow_factory=uow_factory, clock=world.clock)
    assert reversal.kind is EntryKind.REVERSAL
    assert [p.amount.minor for p in reversal.postings] == [200_000, -200_000, 200_000, -200_000]
    assert money.start(paid, 1) is None  # the reversal holds the whole amount: no refund is accepted after it
    with engine.connect() as connection:
        reserved = connection.execute(select(payments.c.refund_reserved_minor).where(payments.c.id == paid))
        assert reserved.scalar_one() == 280_000
    world.chain()
    report = world.verify()
    assert report.ok, report.problems


def test_a_fully_refunded_payment_is_not_reversed(
    uow_factory: SqlUnitOfWorkFactory, refunded: tuple[LedgerWorld, Refunds, dict[str, uuid.UUID]]
) -> None:
    world, money, ids = refunded
    money.refund(ids["paid"], 200_000)
    with pytest.raises(LedgerError, match="refunded in full"):
        reverse_entry(payment_entry_id(ids["paid"]), "late", uow_factory=uow_factory, clock=world.clock)
    world.chain()
    assert world.verify().ok


def test_every_chained_refund_history_record_holds_the_refund_s_own_facts(
    refunded: tuple[LedgerWorld, Refunds, dict[str, uuid.UUID]],
) -> None:
    """The chainer builds facts from bare result rows: each field must be the refund's (a misread
    column would still verify, since the export reads the rows the same way)."""
    from flosspay.domain.chain import RefundHistoryFacts

    world, _, _ = refunded
    with world.uow() as uow:
        records = uow.chain.read(0, 1000)
        seen = 0
        for record in records:
            if not isinstance(record.facts, RefundHistoryFacts):
                continue
            refund = uow.refunds.get(record.facts.refund_id)
            assert refund is not None
            change = refund.history[record.facts.index]
            expected = RefundHistoryFacts(
                refund.id,
                record.facts.index,
                None if change.from_status is None else change.from_status.value,
                change.to_status.value,
                change.attempt,
                change.at,
                refund.payment_id,
                refund.amount.currency,
                refund.amount.minor,
                refund.client_id,
                change.reason,
            )
            assert record.facts == expected
            seen += 1
    assert seen == 9
