"""Several OS processes write payments and chain them at once on PostgreSQL; the chain stays one
linear, gap-free sequence holding every committed record exactly once, and it verifies."""

from __future__ import annotations

import multiprocessing
from multiprocessing.queues import SimpleQueue

import pytest
from sqlalchemy import Engine, func, select

from flosspay.adapters.persistence.tables import ledger_chain, ledger_checkpoints, ledger_entries, payment_history
from flosspay.adapters.persistence.unit_of_work import SqlUnitOfWorkFactory
from tests.integration.ledger.concurrent_writer import write_and_chain
from tests.integration.ledger.support import LedgerWorld

pytestmark = [pytest.mark.integration, pytest.mark.postgres, pytest.mark.slow]

PROCESSES = 4
PAYMENTS_EACH = 30


@pytest.mark.parametrize("database_url", ["postgres"], indirect=True)
def test_many_processes_writing_and_chaining_at_once_keep_one_verifying_chain(
    database_url: str, engine: Engine, uow_factory: SqlUnitOfWorkFactory
) -> None:
    context = multiprocessing.get_context("spawn")
    start = context.Barrier(PROCESSES)
    results: SimpleQueue[int] = context.SimpleQueue()
    workers = [
        context.Process(target=write_and_chain, args=(database_url, PAYMENTS_EACH, start, results))
        for _ in range(PROCESSES)
    ]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=120)
    assert [w.exitcode for w in workers] == [0] * PROCESSES
    chained_by = [results.get() for _ in workers]

    world = LedgerWorld(uow_factory)
    leftover = world.chain()
    with engine.connect() as connection:
        history = connection.execute(select(func.count()).select_from(payment_history)).scalar_one()
        entries = connection.execute(select(func.count()).select_from(ledger_entries)).scalar_one()
        seqs = list(connection.execute(select(ledger_chain.c.seq).order_by(ledger_chain.c.seq)).scalars())
        linked = select(ledger_chain.c.payment_id, ledger_chain.c.history_seq, ledger_chain.c.entry_id).distinct()
        distinct_links = connection.execute(select(func.count()).select_from(linked.subquery())).scalar_one()
        checkpoints = list(
            connection.execute(select(ledger_checkpoints.c.seq).order_by(ledger_checkpoints.c.seq)).scalars()
        )

    assert history == PROCESSES * PAYMENTS_EACH * 3
    assert entries == PROCESSES * (PAYMENTS_EACH - PAYMENTS_EACH // 5)  # every fifth payment was declined
    assert seqs == list(range(1, history + entries + 1))  # linear and gap-free
    assert distinct_links == len(seqs)  # each record once
    assert sum(chained_by) + leftover == len(seqs)
    assert sum(1 for n in chained_by if n) >= 2, chained_by  # the chainer really moved between processes
    # A checkpoint once at least 10 records passed since the last, i.e. within a batch (7) of that.
    gaps = [b - a for a, b in zip([0, *checkpoints], checkpoints, strict=False)]
    assert checkpoints and all(10 <= gap < 10 + 7 for gap in gaps), gaps
    report = world.verify()
    assert report.ok, report.problems
    assert report.head_seq == len(seqs) and report.checkpoints == len(checkpoints)
