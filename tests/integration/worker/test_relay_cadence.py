"""The relay loop's cadence (ADR 0020): the relay every pass, the stalled sweeps every few seconds, the
chainer at once while it finds full batches and otherwise every ``relay_chain_interval_seconds``."""

from __future__ import annotations

import dataclasses
import time
import uuid
from datetime import timedelta

import pytest

from flosspay.adapters.worker.relay_loop import RelayLoop, recovery_interval
from flosspay.adapters.worker.services import WorkerServices
from flosspay.application.ledger_chain import Chainer, ChainPass, ChainPolicy
from tests.fakes import FakeQueue, FakeRail, FakeUnitOfWorkFactory

from .support import accept, make_services

pytestmark = pytest.mark.integration


def _stall(uow: FakeUnitOfWorkFactory, services: WorkerServices, payment_id: str) -> None:
    """A worker claimed it, started the rail call and died; its lease ran out a minute ago."""
    now = services.clock.now()
    with uow() as tx:
        payment = tx.payments.get(uuid.UUID(payment_id))
        assert payment is not None
        payment.claim("dead-worker", now - timedelta(seconds=90), now - timedelta(seconds=60))
        payment.start_attempt(now - timedelta(seconds=90))
        tx.payments.save(payment)
        mine = [m.id for m in uow.store.outbox if str(m.payment_id) == payment_id and m.id is not None]
        tx.outbox.mark_dispatched(mine, now - timedelta(seconds=90))  # its messages were relayed long ago
        tx.commit()


def test_stalled_sweeps_run_on_the_first_pass_then_once_per_interval() -> None:
    uow = FakeUnitOfWorkFactory()
    rail = FakeRail()
    services = dataclasses.replace(make_services(uow, rail), relay_recovery_interval_seconds=0.3)
    queue = FakeQueue()
    loop = RelayLoop(services, queue)
    first, second = accept(uow, rail), accept(uow, rail)
    _stall(uow, services, first)

    assert loop.run_once().recovered == 1
    _stall(uow, services, second)
    assert loop.run_once().recovered == 0  # not due yet: the sweep is a safety net, not a per-pass scan
    time.sleep(0.35)
    assert loop.run_once().recovered == 1  # due again: the second is found now
    # The first pass relayed the first's fresh message and the second's original one; now its fresh one.
    assert sorted(str(m.payment_id) for m in queue.messages[:2]) == sorted([first, second])
    assert [str(m.payment_id) for m in queue.messages[2:]] == [second]


def test_the_sweep_interval_is_at_most_a_third_of_the_lease() -> None:
    services = make_services(FakeUnitOfWorkFactory(), FakeRail(), lease_seconds=2)
    assert recovery_interval(services) == pytest.approx(2 / 3)
    assert recovery_interval(make_services(FakeUnitOfWorkFactory(), FakeRail())) == 5.0


SCRIPT: list[int] = []  # what the scripted chainer's passes link, in turn (then 0)
CALLS: list[int] = []


class Scripted(Chainer):
    def __call__(self) -> ChainPass:
        CALLS.append(1)
        return ChainPass(SCRIPT.pop(0) if SCRIPT else 0)


def test_the_chainer_runs_again_at_once_while_its_batches_are_full_then_waits() -> None:
    uow = FakeUnitOfWorkFactory()
    services = dataclasses.replace(make_services(uow, FakeRail()), relay_chain_interval_seconds=0.3)
    SCRIPT[:] = [2, 2, 1]
    CALLS.clear()
    chainer = Scripted(uow, services.clock, ChainPolicy(batch=2))
    loop = RelayLoop(services, FakeQueue(), chainer=chainer)

    assert [loop.run_once().chained for _ in range(5)] == [2, 2, 1, 0, 0]
    assert len(CALLS) == 3  # caught up after the third: idle passes cost no chain pass
    time.sleep(0.35)
    loop.run_once()
    assert len(CALLS) == 4
