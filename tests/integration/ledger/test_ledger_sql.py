"""The ledger and the chain on SQLite and PostgreSQL: posting, balances, reversals, append-only
tables, chaining every committed record exactly once, checkpoints, export and verification."""

from __future__ import annotations

import json
import threading
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest
import sqlalchemy
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import Engine, func, select

from flosspay.adapters.http.views import state_body
from flosspay.adapters.ledger_signing import Ed25519Signer, verify_signature
from flosspay.adapters.persistence.tables import (
    ledger_chain,
    ledger_chain_queue,
    ledger_checkpoints,
    ledger_entries,
    ledger_postings,
    payment_history,
)
from flosspay.adapters.persistence.unit_of_work import SqlUnitOfWorkFactory
from flosspay.application.ledger_audit import export_lines, verify_database
from flosspay.application.ledger_chain import ChainPolicy, chain_all, chain_pending, checkpoint_now
from flosspay.application.ledger_corrections import correct_entry, reverse_entry
from flosspay.application.ledger_head import ledger_head
from flosspay.application.status import get_status
from flosspay.domain.chain import GENESIS
from flosspay.domain.errors import ServiceUnavailable
from flosspay.domain.ledger import LedgerError, Posting, payment_entry_id
from flosspay.domain.money import Money
from flosspay.domain.payment import Flow
from flosspay.ledger_verify import verify_lines
from tests.integration.ledger.support import LedgerWorld

pytestmark = pytest.mark.integration


def _count(engine: Engine, table: sqlalchemy.Table) -> int:
    with engine.connect() as connection:
        return int(connection.execute(select(func.count()).select_from(table)).scalar_one())


def test_a_completed_payment_posts_one_balanced_entry_shown_in_its_status(uow_factory: SqlUnitOfWorkFactory) -> None:
    world = LedgerWorld(uow_factory)
    paid = world.pay(28)
    collected = world.pay(5, flow=Flow.COLLECT)
    queued = world.accept(7)

    with uow_factory() as uow:
        entry_id = uow.ledger.payment_entry_id(paid)
        assert entry_id == payment_entry_id(paid)
        entry = uow.ledger.get(entry_id)
        assert uow.ledger.payment_entry_id(queued) is None
    assert entry is not None and entry.payment_id == paid
    assert [(p.account, p.amount.minor, p.amount.currency) for p in entry.postings] == [
        ("upi:vpa:alice@upi", -2800, "INR"),
        ("upi:clearing", 2800, "INR"),
        ("upi:clearing", -2800, "INR"),
        ("upi:vpa:bob@upi", 2800, "INR"),
    ]
    status = json.loads(state_body(get_status("cl_ledger", str(paid), uow_factory=uow_factory)))
    assert status["status"] == "COMPLETED" and status["ledgerEntryId"] == str(entry_id)
    assert "ledgerEntryId" not in json.loads(state_body(get_status("cl_ledger", str(queued), uow_factory=uow_factory)))

    with uow_factory() as uow:
        assert uow.ledger.balance("upi:vpa:alice@upi") == {"INR": -3300}
        assert uow.ledger.balance("upi:vpa:bob@upi") == {"INR": 3300}
        assert uow.ledger.balance("upi:clearing") == {"INR": 0}
        assert uow.ledger.balance("upi:vpa:nobody@upi") == {}
        # Balances at any point: only the first payment was posted by then.
        first_posted = uow.ledger.get(entry_id)
        assert first_posted is not None
        assert uow.ledger.balance("upi:vpa:bob@upi", as_of=first_posted.posted_at) == {"INR": 2800}
        assert uow.ledger.balance("upi:vpa:bob@upi", as_of=first_posted.posted_at - timedelta(seconds=1)) == {}
    assert collected != paid


def test_a_reversal_is_a_new_entry_referencing_the_original_and_happens_once(
    uow_factory: SqlUnitOfWorkFactory, engine: Engine
) -> None:
    world = LedgerWorld(uow_factory)
    paid = world.pay(28)
    original = payment_entry_id(paid)

    reversal = reverse_entry(original, "refund: goods returned", uow_factory=uow_factory, clock=world.clock)
    with uow_factory() as uow:
        stored = uow.ledger.get(reversal.id)
        assert stored == reversal and stored.ref_entry_id == original
        assert [p.amount.minor for p in stored.postings] == [2800, -2800, 2800, -2800]
        assert uow.ledger.balance("upi:vpa:alice@upi") == {"INR": 0}
        assert uow.ledger.get(original) is not None  # the original stays as it was
        assert [e.id for e in uow.ledger.entries_referencing(original)] == [reversal.id]

    with pytest.raises(LedgerError, match="already reversed"):
        reverse_entry(original, "again", uow_factory=uow_factory, clock=world.clock)
    # The database refuses a second reversal on its own, too (a unique index): what two racing
    # reversals would meet after both passed the use case's check.
    with uow_factory() as uow:
        again = uow.ledger.get(original)
        assert again is not None
        with pytest.raises(LedgerError, match=f"journal entry {original} is already reversed"):
            uow.ledger.add(again.reversal(uuid.uuid4(), world.clock.now(), "sneaky"))
    with uow_factory() as uow, pytest.raises(sqlalchemy.exc.IntegrityError):
        # Any other conflict (here an entry id used twice) is not dressed up as a ledger rule.
        uow.ledger.add(again.correction(reversal.id, world.clock.now(), "same id", again.postings))

    fee = [Posting("upi:vpa:bob@upi", Money(-100, "INR")), Posting("merchant:fees", Money(100, "INR"))]
    correction = correct_entry(original, "fee", fee, uow_factory=uow_factory, clock=world.clock)
    with uow_factory() as uow:
        assert uow.ledger.get(correction.id) == correction
    with pytest.raises(LedgerError, match="balance"):
        correct_entry(original, "bad", fee[:1] * 2, uow_factory=uow_factory, clock=world.clock)

    world.chain()
    report = world.verify()
    assert report.ok, report.problems
    assert report.head_seq == 3 + 2 + 1  # three history rows, then payment, reversal and correction entries
    assert _count(engine, ledger_entries) == 3


def test_racing_reversals_of_one_entry_post_exactly_one(uow_factory: SqlUnitOfWorkFactory) -> None:
    world = LedgerWorld(uow_factory)
    original = payment_entry_id(world.pay(28))
    start = threading.Barrier(6)

    def reverse(n: int) -> str:
        start.wait()
        try:
            reverse_entry(original, f"refund {n}", uow_factory=uow_factory, clock=world.clock)
        except LedgerError as exc:
            return str(exc)
        return "posted"

    with ThreadPoolExecutor(6) as pool:
        outcomes = list(pool.map(reverse, range(6)))
    assert outcomes.count("posted") == 1, outcomes
    assert set(outcomes) - {"posted"} == {f"journal entry {original} is already reversed"}
    with uow_factory() as uow:
        assert [e.kind.value for e in uow.ledger.entries_referencing(original)] == ["reversal"]
    world.chain()
    assert world.verify().ok


@pytest.mark.parametrize(
    ("table", "where"),
    [
        (payment_history, "seq = 0"),
        (ledger_entries, "kind = 'payment'"),
        (ledger_postings, "line = 0"),
        (ledger_chain, "seq = 1"),
        (ledger_checkpoints, "seq = 4"),
    ],
)
def test_the_database_refuses_update_and_delete_on_ledger_and_history_tables(
    uow_factory: SqlUnitOfWorkFactory, engine: Engine, table: sqlalchemy.Table, where: str
) -> None:
    world = LedgerWorld(uow_factory)
    world.pay(28)
    world.chain()
    checkpoint_now(uow_factory=uow_factory, clock=world.clock)
    column = next(iter(table.primary_key.columns)).name
    with engine.connect() as connection:
        assert connection.exec_driver_sql(f"SELECT count(*) FROM {table.name} WHERE {where}").scalar_one() == 1
        statements = [
            f"UPDATE {table.name} SET {column} = {column} WHERE {where}",
            f"DELETE FROM {table.name} WHERE {where}",
        ]
        if engine.dialect.name == "postgresql":
            statements.append(f"TRUNCATE {table.name} CASCADE")
    for statement in statements:
        with engine.connect() as connection, pytest.raises(sqlalchemy.exc.DBAPIError, match="append-only"):
            connection.exec_driver_sql(statement)
    with engine.connect() as connection:
        assert connection.exec_driver_sql(f"SELECT count(*) FROM {table.name} WHERE {where}").scalar_one() == 1


def test_the_chainer_links_every_committed_record_once_in_a_gap_free_order(
    uow_factory: SqlUnitOfWorkFactory, engine: Engine
) -> None:
    world = LedgerWorld(uow_factory)
    ids = world.populate()  # chained with batch 1000
    for _ in range(3):
        world.pay(3)
    assert world.chain(batch=2) > 0  # small batches, as a busy chainer would take them
    assert world.chain() == 0  # nothing left

    history_rows, entries = _count(engine, payment_history), _count(engine, ledger_entries)
    with engine.connect() as connection:
        links = connection.execute(select(ledger_chain).order_by(ledger_chain.c.seq)).mappings().all()
    assert [link["seq"] for link in links] == list(range(1, history_rows + entries + 1))
    assert [link["prev_hash"] for link in links] == [GENESIS] + [link["hash"] for link in links[:-1]]
    per_payment: dict[uuid.UUID, list[int]] = {}
    for link in links:
        if link["kind"] == "history":
            per_payment.setdefault(link["payment_id"], []).append(link["history_seq"])
    assert all(rows == list(range(len(rows))) for rows in per_payment.values())
    entry_seq = next(link["seq"] for link in links if link["entry_id"] == payment_entry_id(ids["paid"]))
    completed_seq = next(
        link["seq"] for link in links if link["payment_id"] == ids["paid"] and link["history_seq"] == 2
    )
    assert completed_seq < entry_seq  # an entry comes after the status change that caused it
    assert _count(engine, ledger_chain_queue) == 0  # SQLite's queue is drained; PostgreSQL never uses it

    report = world.verify()
    assert report.ok, report.problems
    assert report.head_seq == len(links)
    with uow_factory() as uow:
        assert uow.chain.head().hash == links[-1]["hash"]


def test_checkpoints_are_made_periodically_and_signed_and_the_head_shows_the_latest(
    uow_factory: SqlUnitOfWorkFactory,
) -> None:
    world = LedgerWorld(uow_factory)
    signer = Ed25519Signer(Ed25519PrivateKey.generate())
    policy = ChainPolicy(batch=5, checkpoint_every=5)
    for _ in range(3):
        world.pay(10)  # 3 history rows and an entry each: 12 records
    passes = [chain_pending(uow_factory=uow_factory, clock=world.clock, policy=policy, signer=signer) for _ in range(4)]
    assert [p.chained for p in passes] == [5, 5, 2, 0]
    assert [p.checkpoint.seq if p.checkpoint else None for p in passes] == [5, 10, None, None]
    manual = checkpoint_now(uow_factory=uow_factory, clock=world.clock, signer=signer)
    assert manual.seq == 12 and manual.key == signer.public_key
    assert manual.signature is not None and verify_signature(signer.public_key, manual.message(), manual.signature)
    assert checkpoint_now(uow_factory=uow_factory, clock=world.clock, signer=signer) == manual  # idempotent

    head = ledger_head(uow_factory=uow_factory)
    assert head.seq == 12 and head.checkpoint is not None and head.checkpoint.seq == 12
    assert head.checkpoint.public_key == signer.public_key.hex()

    lines = list(export_lines(uow_factory=uow_factory, clock=world.clock))
    assert sum(1 for line in lines if line.startswith(b'{"checkpoint"')) == 3
    good = verify_lines(lines, check_signature=verify_signature, trusted_keys=[signer.public_key])
    assert good.ok and good.signed_checkpoints == 3, good.problems
    stranger = Ed25519Signer(Ed25519PrivateKey.generate()).public_key
    refused = verify_lines(lines, check_signature=verify_signature, trusted_keys=[stranger])
    assert [p.seq for p in refused.problems] == [5, 10, 12]
    assert "not trusted" in refused.problems[0].what
    report = verify_database(
        uow_factory=uow_factory,
        clock=world.clock,
        check_signature=verify_signature,
        trusted_keys=[signer.public_key],
        expected_heads={10: passes[1].head.hash if passes[1].head else b""},
    )
    assert report.ok and report.signed_checkpoints == 3, report.problems


def test_an_empty_chain_exports_and_verifies_and_cannot_be_checkpointed(uow_factory: SqlUnitOfWorkFactory) -> None:
    world = LedgerWorld(uow_factory)
    report = world.verify()
    assert report.ok and report.head_seq == 0 and report.head_hash == GENESIS
    assert ledger_head(uow_factory=uow_factory).hash == "0" * 64
    with pytest.raises(LedgerError, match="empty"):
        checkpoint_now(uow_factory=uow_factory, clock=world.clock)


@pytest.mark.postgres
@pytest.mark.parametrize("database_url", ["postgres"], indirect=True)
def test_only_one_chainer_works_at_a_time_on_postgresql(uow_factory: SqlUnitOfWorkFactory) -> None:
    world = LedgerWorld(uow_factory)
    world.pay(10)
    with uow_factory() as holder:
        assert holder.chain.try_lock()
        busy = chain_pending(uow_factory=uow_factory, clock=world.clock)
        assert busy.busy and busy.chained == 0
        with pytest.raises(ServiceUnavailable, match="chainer lock"):
            chain_all(uow_factory=uow_factory, clock=world.clock, max_busy_passes=2)
    assert chain_pending(uow_factory=uow_factory, clock=world.clock).chained == 4


@pytest.mark.postgres
@pytest.mark.parametrize("database_url", ["postgres"], indirect=True)
def test_a_record_of_a_transaction_still_open_waits_and_nothing_after_it_jumps_ahead(
    uow_factory: SqlUnitOfWorkFactory,
) -> None:
    """A writer that started first but commits last must not end up after later records: the
    chainer stops at the oldest open transaction, then links in transaction order."""
    world = LedgerWorld(uow_factory)
    early = uow_factory()
    with early:
        slow_id = world.accept_in(early, 11)
        world.pay(22)  # commits while `early` is still open
        assert chain_pending(uow_factory=uow_factory, clock=world.clock).chained == 0
        early.commit()
    assert chain_pending(uow_factory=uow_factory, clock=world.clock).chained == 5
    with uow_factory() as uow:
        first = uow.chain.read(0, 1)[0]
    assert first.link.payment_id == slow_id
    assert world.verify().ok


def test_every_chained_record_is_the_domain_s_own_record_of_the_payment_or_entry(
    uow_factory: SqlUnitOfWorkFactory, engine: Engine
) -> None:
    """The chainer builds facts from bare result rows; they must be the domain objects' facts exactly
    (export and verify read the rows the same way, so only this comparison catches a misread column)."""
    from flosspay.domain.chain import ChainLink, Pending
    from flosspay.domain.ledger import history_facts

    world = LedgerWorld(uow_factory)
    world.populate()
    world.pay(4321)
    world.chain()
    with engine.connect() as connection:
        links = connection.execute(select(ledger_chain).order_by(ledger_chain.c.seq)).mappings().all()
    assert {link["kind"] for link in links} == {"history", "entry"}
    prev = GENESIS
    with uow_factory() as uow:
        for link in links:
            if link["kind"] == "history":
                payment = uow.payments.get(link["payment_id"])
                assert payment is not None
                facts = history_facts(payment, link["history_seq"])
            else:
                entry = uow.ledger.get(link["entry_id"])
                assert entry is not None
                facts = entry.facts()
            made = ChainLink.make(link["seq"], prev, Pending(facts, link["source_pos"]))
            assert (made.prev_hash, made.hash) == (link["prev_hash"], link["hash"]), link["seq"]
            prev = made.hash
