"""One OS process of the concurrency test: accept and carry out payments, chaining as it goes.

Run by ``test_chain_concurrency`` in several processes at once (multiprocessing, spawn), the way
API and worker processes share one PostgreSQL database.
"""

from __future__ import annotations

from multiprocessing.queues import SimpleQueue
from multiprocessing.synchronize import Barrier

from flosspay.adapters.persistence.engine import create_engine
from flosspay.adapters.persistence.unit_of_work import SqlUnitOfWorkFactory
from flosspay.application.ledger_chain import ChainPolicy, chain_pending
from flosspay.domain.payment import Flow
from flosspay.domain.rail import Outcome, RailResult
from tests.integration.ledger.support import LedgerWorld

POLICY = ChainPolicy(batch=7, checkpoint_every=10)


def write_and_chain(url: str, payments: int, start: Barrier, results: SimpleQueue[int]) -> None:
    """Puts on ``results`` how many records this process linked into the chain."""
    engine = create_engine(url, pool_size=2)
    try:
        world = LedgerWorld(SqlUnitOfWorkFactory(engine))
        chained = 0
        start.wait(timeout=60)
        for number in range(payments):
            if number % 5 == 4:
                world.pay(number + 1, RailResult(Outcome.DECLINED, "Z9", "insufficient funds"))
            else:
                world.pay(number + 1, flow=Flow.COLLECT if number % 3 else Flow.PAY)
            result = chain_pending(uow_factory=world.uow, clock=world.clock, policy=POLICY)
            chained += result.chained
        results.put(chained)
    finally:
        engine.dispose()
