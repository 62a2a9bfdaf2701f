"""Running the worker: embedded with the in-process broker, and standalone until SIGTERM."""

from __future__ import annotations

import dataclasses
import os
import select
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from flosspay.adapters.breaker_store import InProcessBreakerStore
from flosspay.adapters.clock import SystemClock
from flosspay.adapters.worker.broker import build_broker
from flosspay.adapters.worker.dead_letters import list_dead_letters, requeue_dead_letters
from flosspay.application.breakers import CircuitBreakers
from flosspay.domain.payment import PaymentStatus
from flosspay.domain.rail import Outcome, RailResult
from tests.fakes import FakeRail, FakeUnitOfWorkFactory

from .support import RedisSetup, accept, make_services, running, stored, wait_for

ROOT = Path(__file__).resolve().parents[3]


@pytest.mark.integration
def test_embedded_worker_with_the_in_process_broker_processes_and_dead_letters() -> None:
    uow = FakeUnitOfWorkFactory()
    rail = FakeRail(RailResult(Outcome.COMPLETED, "00"), *[RailResult(Outcome.TRANSIENT, "91")] * 5)
    services = make_services(uow, rail, max_attempts=2)
    broker = build_broker(services, redis_url=None)

    with running(services, broker):
        completed_id = accept(uow, rail)
        wait_for(lambda: stored(uow, completed_id).is_final, what="the first payment to finish")
        failed_id = accept(uow, rail)
        wait_for(lambda: len(list_dead_letters(broker)) == 1, what="the second message to be dead-lettered")

        assert stored(uow, completed_id).status is PaymentStatus.COMPLETED
        assert stored(uow, failed_id).status is PaymentStatus.FAILED
        assert [letter.payment_id for letter in list_dead_letters(broker)] == [failed_id]
        calls = len(rail.calls)

        assert requeue_dead_letters(broker, failed_id) == 1
        broker.join("payments", timeout=5000, fail_fast=False)
        assert list_dead_letters(broker) == []
        assert len(rail.calls) == calls  # already final: acknowledged without a rail call


_STANDALONE = textwrap.dedent(
    """
    import logging, sys, threading, time
    from flosspay.adapters.worker.broker import build_broker
    from flosspay.adapters.worker.runner import run_worker
    from tests.fakes import FakeRail, FakeUnitOfWorkFactory
    from tests.integration.worker.support import accept, make_services, stored

    logging.basicConfig(level=logging.INFO)
    url, namespace = sys.argv[1:3]
    uow, rail = FakeUnitOfWorkFactory(), FakeRail()
    services = make_services(uow, rail)
    payment_id = accept(uow, rail)

    def report():
        while not stored(uow, payment_id).is_final:
            time.sleep(0.02)
        print(stored(uow, payment_id).status.value, flush=True)

    threading.Thread(target=report, daemon=True).start()
    code = run_worker(services, build_broker(services, redis_url=url, namespace=namespace), threads=2)
    print("exit", code, flush=True)
    sys.exit(code)
    """
)


def _read_line(proc: subprocess.Popen[str], timeout: float) -> str:
    assert proc.stdout is not None
    ready, _, _ = select.select([proc.stdout], [], [], timeout)
    assert ready, "the worker printed nothing in time"
    return proc.stdout.readline().strip()


@pytest.mark.integration
@pytest.mark.redis
def test_run_worker_processes_until_sigterm_then_exits_cleanly(rq: RedisSetup) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-c", _STANDALONE, rq.url, rq.namespace],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    try:
        assert _read_line(proc, timeout=15) == "COMPLETED"
        started = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=15)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, err
    assert out.strip() == "exit 0"
    assert "received SIGTERM, shutting down" in err
    assert time.monotonic() - started < 10
    assert rq.pending_count() == 0


@pytest.mark.integration
def test_stopping_the_worker_stores_the_breaker_successes_it_had_batched() -> None:
    uow = FakeUnitOfWorkFactory()
    rail = FakeRail(RailResult(Outcome.COMPLETED, "00"))
    store = InProcessBreakerStore()
    breakers = CircuitBreakers(store, SystemClock(), success_batch=16, success_delay_seconds=3600)
    services = dataclasses.replace(make_services(uow, rail), breakers=breakers)
    broker = build_broker(services, redis_url=None)

    with running(services, broker):
        payment_id = accept(uow, rail)
        wait_for(lambda: stored(uow, payment_id).is_final, what="the payment to finish")
        assert store.load(rail.name).calls == 0  # counted in this process only, not stored yet

    assert store.load(rail.name).calls == 1
