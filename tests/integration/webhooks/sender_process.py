"""A webhook sender in a process of its own (the test kills it with SIGKILL mid-delivery)."""

from __future__ import annotations

import sys
import time
from datetime import timedelta

from flosspay.adapters.clock import SystemClock
from flosspay.adapters.persistence.engine import create_engine
from flosspay.adapters.persistence.unit_of_work import SqlUnitOfWorkFactory
from flosspay.adapters.webhooks.delivery_loop import WebhookDeliveryLoop
from flosspay.domain.webhooks import WebhookPolicy
from tests.db_fixtures import TEST_SECRET_BOX


def main() -> None:
    url, seconds = sys.argv[1], float(sys.argv[2])
    policy = WebhookPolicy(
        allow_private_urls=True,
        timeout=timedelta(seconds=1),
        retry_schedule=(timedelta(0),) * 3,
        poll_interval=timedelta(seconds=0.05),
        batch=8,  # one wave of sends: a lease of 2 x timeout + 1 s, so the takeover comes quickly
        concurrency=8,
    )
    loop = WebhookDeliveryLoop(SqlUnitOfWorkFactory(create_engine(url), TEST_SECRET_BOX), SystemClock(), policy)
    loop.start()
    print("started", flush=True)
    time.sleep(seconds)
    loop.stop()


if __name__ == "__main__":
    main()
