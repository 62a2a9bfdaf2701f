"""Refund intake benchmark (issue 13): what the database guard costs, against the payment intake.

    .venv/bin/python benchmarks/refunds.py [--n 600] [--threads 4] [--race 30] [--server URL]

On a scratch PostgreSQL database (dropped afterwards), in-process (no HTTP), from --threads threads:

- anchor:   N payments accepted by ``accept_payment`` (the intake's hot path);
- refunds:  one partial refund of each of those N payments (now COMPLETED) by ``request_refund``:
            idempotency claim, guarded reservation UPDATE, refund row, history row, outbox row;
- race:     --race refunds of ONE payment at once (together more than it), each from its own
            thread: they queue on the payment's row lock; the accepted ones must be exactly those
            that fit, and the wall time shows what that serialisation costs.

Prints the rates and refunds/s as a ratio of the anchor measured in the same run. A benchmark,
not a test (figures on a shared machine vary; the ratio is what counts).
"""

from __future__ import annotations

import argparse
import os
import sys
import threading
import time
import uuid
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path

import sqlalchemy
from sqlalchemy.engine import make_url
from sqlalchemy.pool import NullPool

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from flosspay.adapters.clock import SystemClock
from flosspay.adapters.http.payments import HTTP_INTAKE
from flosspay.adapters.http.refund_views import accepted_refund_answer
from flosspay.adapters.persistence.engine import create_engine
from flosspay.adapters.persistence.migrate import upgrade
from flosspay.adapters.persistence.unit_of_work import SqlUnitOfWorkFactory
from flosspay.application.accept_payment import PaymentIntent, accept_payment
from flosspay.application.policies import IntakePolicy
from flosspay.application.refunds import RefundCommand, request_refund
from flosspay.domain.errors import ValidationFailed
from flosspay.domain.payment import Flow
from tests.fakes import FakeRail, FakeRailRegistry

DEFAULT_SERVER = os.environ.get("FLOSSPAY_TEST_DATABASE_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")


def _timed(items: list[int], threads: int, work: Callable[[int], None]) -> float:
    """Run ``work`` over ``items`` from ``threads`` threads; the wall time in seconds."""
    chunks = [items[i::threads] for i in range(threads)]
    workers = [threading.Thread(target=lambda c=c: [work(i) for i in c]) for c in chunks]
    started = time.perf_counter()
    for t in workers:
        t.start()
    for t in workers:
        t.join()
    return time.perf_counter() - started


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=600)
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--race", type=int, default=30)
    parser.add_argument("--server", default=DEFAULT_SERVER)
    args = parser.parse_args()

    admin = sqlalchemy.create_engine(make_url(args.server), isolation_level="AUTOCOMMIT", poolclass=NullPool)
    name = "flosspay_bench_refunds_" + uuid.uuid4().hex[:8]
    with admin.connect() as connection:
        connection.exec_driver_sql(f"CREATE DATABASE {name}")
    url = make_url(args.server).set(database=name).render_as_string(hide_password=False)
    try:
        upgrade(url)
        engine = create_engine(url)
        uow = SqlUnitOfWorkFactory(engine)
        rails = FakeRailRegistry(FakeRail())
        clock = SystemClock()
        policy = IntakePolicy()
        ids: list[uuid.UUID | None] = [None] * (args.n + 1)
        fields = {"senderUpi": "alice@upi", "receiverUpi": "bob@upi"}

        def pay(i: int) -> None:
            intent = PaymentIntent("c1", f"pay-{i}", "fp", "UPI", Flow.PAY, Decimal("100.00"), "INR", fields)
            accepted = accept_payment(intent, uow_factory=uow, rails=rails, clock=clock, policy=policy, **HTTP_INTAKE)
            ids[i] = uuid.UUID(str(accepted.payment_id))

        anchor_s = _timed(list(range(args.n + 1)), args.threads, pay)
        with engine.begin() as connection:  # completed (not timed): only a COMPLETED payment is refunded
            connection.exec_driver_sql("UPDATE payments SET status = 'COMPLETED'")

        def refund(i: int) -> None:
            command = RefundCommand("c1", f"refund-{i}", f"fp-{i}", str(ids[i]), "40.00")
            request_refund(
                command, uow_factory=uow, rails=rails, clock=clock, policy=policy, render=accepted_refund_answer
            )

        refunds_s = _timed(list(range(args.n)), args.threads, refund)

        target = str(ids[args.n])
        accepted: list[int] = []
        refused: list[int] = []
        barrier = threading.Barrier(args.race)

        def race(i: int) -> None:
            barrier.wait()
            command = RefundCommand("c1", f"race-{i}", f"fp-race-{i}", target, "7.00")
            try:
                request_refund(
                    command, uow_factory=uow, rails=rails, clock=clock, policy=policy, render=accepted_refund_answer
                )
                accepted.append(i)
            except ValidationFailed:
                refused.append(i)

        racers = [threading.Thread(target=race, args=(i,)) for i in range(args.race)]
        started = time.perf_counter()
        for t in racers:
            t.start()
        for t in racers:
            t.join()
        race_s = time.perf_counter() - started
        fits = min(args.race, 10000 // 700)
        engine.dispose()
    finally:
        with admin.connect() as connection:
            connection.exec_driver_sql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        admin.dispose()
    anchor = (args.n + 1) / anchor_s
    rate = args.n / refunds_s
    print(
        f"anchor  payment intake: {anchor:8.0f} payments/s ({args.n + 1} in {anchor_s:.2f} s, {args.threads} threads)"
    )
    print(f"refund  intake:         {rate:8.0f} refunds/s  ({args.n} in {refunds_s:.2f} s)  ratio {rate / anchor:.2f}")
    print(
        f"race    {args.race} refunds of one payment at once: {len(accepted)} accepted (expected {fits}),"
        f" {len(refused)} refused, {race_s * 1000:.0f} ms wall"
    )
    return 0 if len(accepted) == fits and len(accepted) + len(refused) == args.race else 1


if __name__ == "__main__":
    sys.exit(main())
