"""The relay loop of every worker (and of ``flosspay serve``) runs the chainer as one more step."""

from __future__ import annotations

import pytest

from flosspay.adapters.persistence.unit_of_work import SqlUnitOfWorkFactory
from flosspay.adapters.worker.relay_loop import RelayLoop
from flosspay.adapters.worker.services import WorkerServices
from flosspay.application.ledger_chain import Chainer, ChainPass, ChainPolicy
from tests.fakes import FakeQueue
from tests.integration.ledger.support import POLICY, LedgerWorld

pytestmark = pytest.mark.integration


def _services(world: LedgerWorld) -> WorkerServices:
    return WorkerServices(uow_factory=world.uow, rails=world.rails, clock=world.clock, policy=POLICY, worker_id="w")


def test_each_relay_pass_chains_what_was_committed(uow_factory: SqlUnitOfWorkFactory) -> None:
    world = LedgerWorld(uow_factory)
    world.pay(10)
    world.accept(20)
    loop = RelayLoop(_services(world), FakeQueue(), chainer=Chainer(uow_factory, world.clock, ChainPolicy(batch=3)))
    passes = [loop.run_once() for _ in range(3)]
    assert [p.chained for p in passes] == [3, 2, 0]
    assert all(not p.errors for p in passes)
    assert world.verify().ok
    # Without a chainer given, the loop makes one with the defaults.
    assert RelayLoop(_services(world), FakeQueue()).chainer.policy == ChainPolicy()


def test_a_failing_chain_step_is_reported_and_the_other_steps_still_run(uow_factory: SqlUnitOfWorkFactory) -> None:
    world = LedgerWorld(uow_factory)
    world.accept(10)

    class Broken(Chainer):
        def __call__(self) -> ChainPass:
            raise ConnectionError("database went away")

    queue = FakeQueue()
    loop = RelayLoop(_services(world), queue, chainer=Broken(uow_factory, world.clock))
    result = loop.run_once()
    assert result.errors == ["chain: ConnectionError"]
    assert result.sent == 1 and len(queue.messages) == 1
