"""Tampering with history, entries or the chain itself, with the append-only triggers out of the way
as a superuser could, is detected by ``verify`` at the sequence number of the changed record."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import Engine, delete, select, update
from sqlalchemy.engine import Connection

from flosspay.adapters.ledger_signing import Ed25519Signer, verify_signature
from flosspay.adapters.persistence.tables import (
    ledger_chain,
    ledger_checkpoints,
    ledger_entries,
    ledger_postings,
    payment_history,
    payments,
)
from flosspay.adapters.persistence.unit_of_work import SqlUnitOfWorkFactory
from flosspay.application.ledger_audit import export_lines, verify_database
from flosspay.application.ledger_chain import checkpoint_now
from flosspay.domain.chain import GENESIS, link_hash
from flosspay.domain.ledger import payment_entry_id
from flosspay.ledger_verify import verify_lines
from tests.integration.ledger.support import LedgerWorld, as_superuser, seq_of_entry, seq_of_history

pytestmark = pytest.mark.integration

Ids = dict[str, uuid.UUID]


@dataclass(frozen=True)
class Tamper:
    """``change`` edits the database; ``where`` names the seq that must be reported first."""

    change: Callable[[Connection, Ids], None]
    where: Callable[[Engine, Ids], int]
    complaint: str


def _history_row(ids: Ids, name: str, index: int) -> tuple[object, ...]:
    return (payment_history.c.payment_id == ids[name], payment_history.c.seq == index)


def _swap_links(connection: Connection, a: int, b: int) -> None:
    parked = 10**12  # the CHECK (seq >= 1) stays on, so park one row out of the way
    connection.execute(update(ledger_chain).where(ledger_chain.c.seq == a).values(seq=parked))
    connection.execute(update(ledger_chain).where(ledger_chain.c.seq == b).values(seq=a))
    connection.execute(update(ledger_chain).where(ledger_chain.c.seq == parked).values(seq=b))


def _swap_history(connection: Connection, ids: Ids) -> None:
    rows = payment_history.c
    connection.execute(update(payment_history).where(*_history_row(ids, "paid", 0)).values(seq=1000))
    connection.execute(update(payment_history).where(*_history_row(ids, "paid", 1)).values(seq=0))
    connection.execute(update(payment_history).where(rows.payment_id == ids["paid"], rows.seq == 1000).values(seq=1))


def _delete_entry(connection: Connection, ids: Ids) -> None:
    entry = payment_entry_id(ids["big"])
    connection.execute(delete(ledger_postings).where(ledger_postings.c.entry_id == entry))
    connection.execute(delete(ledger_entries).where(ledger_entries.c.id == entry))


TAMPERS = {
    "posting amount": Tamper(
        lambda c, ids: c.execute(
            update(ledger_postings)
            .where(ledger_postings.c.entry_id == payment_entry_id(ids["paid"]), ledger_postings.c.line == 3)
            .values(amount_minor=ledger_postings.c.amount_minor + 100)
        ),
        lambda e, ids: seq_of_entry(e, payment_entry_id(ids["paid"])),
        "hash mismatch",
    ),
    "payment amount": Tamper(
        lambda c, ids: c.execute(update(payments).where(payments.c.id == ids["collected"]).values(amount_minor=1)),
        lambda e, ids: seq_of_history(e, ids["collected"], 0),
        "hash mismatch",
    ),
    "status": Tamper(
        lambda c, ids: c.execute(
            update(payment_history).where(*_history_row(ids, "declined", 2)).values(to_status="COMPLETED")
        ),
        lambda e, ids: seq_of_history(e, ids["declined"], 2),
        "hash mismatch",
    ),
    "history timestamp": Tamper(
        lambda c, ids: c.execute(
            update(payment_history)
            .where(*_history_row(ids, "paid", 1))
            .values(at=datetime(2026, 1, 1, 12, 0, 2, 1, tzinfo=UTC))  # one microsecond later
        ),
        lambda e, ids: seq_of_history(e, ids["paid"], 1),
        "hash mismatch",
    ),
    "entry timestamp": Tamper(
        lambda c, ids: c.execute(
            update(ledger_entries)
            .where(ledger_entries.c.id == payment_entry_id(ids["big"]))
            .values(posted_at=datetime(2026, 1, 2, tzinfo=UTC))
        ),
        lambda e, ids: seq_of_entry(e, payment_entry_id(ids["big"])),
        "hash mismatch",
    ),
    "deleted history row": Tamper(
        lambda c, ids: c.execute(delete(payment_history).where(*_history_row(ids, "collected", 1))),
        lambda e, ids: seq_of_history(e, ids["collected"], 1),
        "source record missing",
    ),
    "deleted entry": Tamper(
        _delete_entry,
        lambda e, ids: seq_of_entry(e, payment_entry_id(ids["big"])),
        "source record missing",
    ),
    "deleted chain link": Tamper(
        lambda c, ids: c.execute(delete(ledger_chain).where(ledger_chain.c.seq == 6)),
        lambda e, ids: 6,
        "sequence gap",
    ),
    "reordered chain links": Tamper(
        lambda c, ids: _swap_links(c, 4, 9),
        lambda e, ids: 4,
        "hash mismatch",
    ),
    "reordered history rows": Tamper(
        _swap_history,
        lambda e, ids: seq_of_history(e, ids["paid"], 0),
        "hash mismatch",
    ),
    "overwritten stored hash": Tamper(
        lambda c, ids: c.execute(update(ledger_chain).where(ledger_chain.c.seq == 7).values(hash=b"\x01" * 32)),
        lambda e, ids: 7,
        "hash mismatch",
    ),
}


@pytest.mark.parametrize("kind", list(TAMPERS))
def test_tampering_is_detected_at_the_right_sequence_number(
    kind: str, database_url: str, engine: Engine, uow_factory: SqlUnitOfWorkFactory
) -> None:
    world = LedgerWorld(uow_factory)
    ids = world.populate()
    assert world.verify().ok
    tamper = TAMPERS[kind]
    expected = tamper.where(engine, ids)

    with as_superuser(database_url) as connection:
        tamper.change(connection, ids)

    report = world.verify()
    assert not report.ok
    first = report.problems[0]
    assert (first.seq, tamper.complaint) == (expected, tamper.complaint), report.problems
    assert tamper.complaint in first.what, report.problems
    # The same verdict offline, from an export of the tampered database.
    offline = verify_lines(list(export_lines(uow_factory=uow_factory, clock=world.clock)))
    assert offline.problems[0] == first


def test_a_rewritten_chain_is_caught_by_a_published_head_and_a_signed_checkpoint(
    database_url: str, engine: Engine, uow_factory: SqlUnitOfWorkFactory
) -> None:
    """Re-hashing everything after a change makes the chain consistent again; only what was
    published before (a head, a signed checkpoint) can tell. That is what they are for."""
    world = LedgerWorld(uow_factory)
    ids = world.populate()
    signer = Ed25519Signer(Ed25519PrivateKey.generate())
    published = checkpoint_now(uow_factory=uow_factory, clock=world.clock, signer=signer)
    entry_seq = seq_of_entry(engine, payment_entry_id(ids["paid"]))

    with as_superuser(database_url) as connection:
        # Move 1.00 of the payee's money elsewhere, keeping the entry balanced.
        connection.execute(
            update(ledger_postings)
            .where(ledger_postings.c.entry_id == payment_entry_id(ids["paid"]), ledger_postings.c.line == 3)
            .values(account="upi:vpa:mallory@upi")
        )
    with uow_factory() as uow:
        rows = uow.chain.read(0, 1000)
    prev = GENESIS
    with as_superuser(database_url) as connection:
        for row in rows:
            assert row.facts is not None
            digest = link_hash(prev, row.facts.record(row.link.seq))
            connection.execute(
                update(ledger_chain).where(ledger_chain.c.seq == row.link.seq).values(prev_hash=prev, hash=digest)
            )
            prev = digest
        connection.execute(update(ledger_checkpoints).values(hash=prev))  # the signature cannot follow

    assert world.verify().ok  # consistent again: without what was published, nothing to compare with
    report = verify_database(
        uow_factory=uow_factory,
        clock=world.clock,
        check_signature=verify_signature,
        trusted_keys=[signer.public_key],
        expected_heads={published.seq: published.hash},
    )
    assert [p.seq for p in report.problems] == [published.seq, published.seq]
    assert "differs from the expected head" in report.problems[0].what
    assert "signature does not verify" in report.problems[1].what
    with engine.connect() as connection:
        assert connection.execute(select(ledger_chain.c.seq).where(ledger_chain.c.seq == entry_seq)).scalar_one()
