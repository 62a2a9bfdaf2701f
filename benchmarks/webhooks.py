"""Webhook benchmark: N payments completed with an endpoint registered, then every webhook delivered.

    .venv/bin/python benchmarks/webhooks.py [--payments 1000] [--threads 4] [--server URL]

On a scratch PostgreSQL database (dropped afterwards), with a real HTTP receiver on loopback:

- payments:   N payments carried out by ``process_payment`` (instant in-process rail) from --threads
  threads; each final save writes its ``payment.completed`` event and delivery in the same transaction;
- deliveries: the webhook delivery loop (httpx, signed, default concurrency) draining all N.

Prints both rates and their ratio (the anchor is the payment rate of the same run), and checks the
receiver got exactly N distinct ``webhook-id`` values once deduplicated. A benchmark, not a test.
"""

from __future__ import annotations

import argparse
import os
import sys
import threading
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import sqlalchemy
from sqlalchemy.engine import make_url
from sqlalchemy.pool import NullPool

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from flosspay.adapters.clock import SystemClock
from flosspay.adapters.persistence.engine import create_engine
from flosspay.adapters.persistence.migrate import upgrade
from flosspay.adapters.persistence.unit_of_work import SqlUnitOfWorkFactory
from flosspay.adapters.webhooks.delivery_loop import WebhookDeliveryLoop
from flosspay.application.policies import ProcessingPolicy
from flosspay.application.process import process_payment
from flosspay.domain.money import Money
from flosspay.domain.payment import Flow, Payment
from flosspay.domain.webhooks import EventType, WebhookPolicy
from tests.db_fixtures import TEST_SECRET_BOX
from tests.fakes import FakeRail, FakeRailRegistry
from tests.integration.webhooks.receiver import Receiver
from tests.integration.webhooks.support import CLIENT, add_endpoint

DEFAULT_SERVER = os.environ.get("FLOSSPAY_TEST_DATABASE_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--payments", type=int, default=1000)
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--server", default=DEFAULT_SERVER)
    args = parser.parse_args()

    admin = sqlalchemy.create_engine(make_url(args.server), isolation_level="AUTOCOMMIT", poolclass=NullPool)
    name = "flosspay_bench_hooks_" + uuid.uuid4().hex[:8]
    with admin.connect() as connection:
        connection.exec_driver_sql(f"CREATE DATABASE {name}")
    url = make_url(args.server).set(database=name).render_as_string(hide_password=False)
    receiver = Receiver().start()
    try:
        upgrade(url)
        engine = create_engine(url)
        uow_factory = SqlUnitOfWorkFactory(engine, TEST_SECRET_BOX)
        clock = SystemClock()
        now = clock.now()
        add_endpoint(uow_factory, receiver.url, now, events=(EventType.PAYMENT_COMPLETED,))
        ids = []
        for _ in range(args.payments):  # accepted (not timed)
            payment = Payment.accept(
                id=uuid.uuid4(),
                client_id=CLIENT,
                flow=Flow.PAY,
                method="UPI",
                rail="upi",
                amount=Money(2800, "INR"),
                details={"senderUpi": "alice@upi", "receiverUpi": "bob@upi"},
                public={},
                note=None,
                now=now,
            )
            with uow_factory() as uow:
                uow.payments.add(payment)
                uow.commit()
            ids.append(payment.id)

        rails = FakeRailRegistry(FakeRail())
        policy = ProcessingPolicy()
        chunks = [ids[i :: args.threads] for i in range(args.threads)]

        def work(chunk: list[uuid.UUID]) -> None:
            for pid in chunk:
                process_payment(
                    pid,
                    worker="bench",
                    uow_factory=uow_factory,
                    rails=rails,
                    clock=clock,
                    policy=policy,
                )

        started = time.perf_counter()
        threads = [threading.Thread(target=work, args=(c,)) for c in chunks]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        pay_seconds = time.perf_counter() - started

        hooks = WebhookPolicy(allow_private_urls=True, poll_interval=timedelta(seconds=0.01))
        loop = WebhookDeliveryLoop(uow_factory, clock, hooks)
        started = time.perf_counter()
        loop.start()
        receiver.wait_for(args.payments, timeout=600)
        delivery_seconds = time.perf_counter() - started
        loop.stop()
        engine.dispose()

        unique = len(receiver.unique_ids())
        pay_rate = args.payments / pay_seconds
        delivery_rate = len(receiver.deliveries) / delivery_seconds
        print(f"payments:   {args.payments} in {pay_seconds:.2f} s = {pay_rate:,.0f}/s ({args.threads} threads)")
        print(
            f"deliveries: {len(receiver.deliveries)} in {delivery_seconds:.2f} s = {delivery_rate:,.0f}/s "
            f"(concurrency {hooks.concurrency}, batch {hooks.batch})"
        )
        print(f"ratio:      deliveries/payments = {delivery_rate / pay_rate:.2f}")
        print(f"distinct webhook-ids at the receiver: {unique} (expected {args.payments})")
        print(f"at {datetime.now(UTC).isoformat(timespec='seconds')}")
        return 0 if unique == args.payments else 1
    finally:
        receiver.stop()
        with admin.connect() as connection:
            connection.exec_driver_sql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        admin.dispose()


if __name__ == "__main__":
    sys.exit(main())
