"""Fault case 4: restart (a private) PostgreSQL under load.

Requests in flight get 503 (or lose their connection) and never 500; retried with their keys
they make one payment each, nothing is half-written, and every payment completes.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy

from tests.faults.conftest import (
    FaultStack,
    assert_settled,
    build_stack,
    payment_requests,
    post_all,
    record,
    teardown_stack,
)
from tests.faults.servers import PrivatePostgres, PrivateRedis

pytestmark = [pytest.mark.faults, pytest.mark.postgres, pytest.mark.redis, pytest.mark.slow]

PAYMENTS = 150
DOWN_S = 3.0


@pytest.fixture
def private_postgres() -> Iterator[PrivatePostgres]:
    server = PrivatePostgres()
    server.init()
    try:
        yield server
    finally:
        server.destroy()


@pytest.fixture
def pg_stack(
    private_postgres: PrivatePostgres, private_redis: PrivateRedis, tmp_path: Path, request: pytest.FixtureRequest
) -> Iterator[FaultStack]:
    stack = build_stack(private_postgres.url, private_redis, tmp_path)
    try:
        yield stack
    finally:
        teardown_stack(stack, request)


def test_a_postgres_restart_under_load_gives_503_never_500_and_loses_nothing(
    pg_stack: FaultStack, private_postgres: PrivatePostgres
) -> None:
    stack = pg_stack
    stack.start_api()
    stack.start_worker()
    warm = stack.warm_up()
    client = stack.client()
    seen: dict[str, int] = {}
    accepted: dict[str, str] = {}
    requests = payment_requests(PAYMENTS, "pg")
    poster = threading.Thread(
        target=lambda: accepted.update(post_all([client], requests, threads=4, seen=seen, pace=0.05))
    )
    poster.start()
    time.sleep(1.5)
    restarted_at = time.monotonic()
    private_postgres.restart(DOWN_S)
    poster.join(120)
    assert len(accepted) == PAYMENTS and len(set(accepted.values())) == PAYMENTS
    ids = {warm, *accepted.values()}
    stack.wait_all_final(ids, 60)
    recovered = time.monotonic() - restarted_at
    engine = sqlalchemy.create_engine(stack.database_url, poolclass=sqlalchemy.pool.NullPool)
    try:
        with engine.connect() as connection:
            dangling = connection.exec_driver_sql(
                "SELECT count(*) FROM idempotency_records r WHERE r.payment_id IS NOT NULL AND NOT EXISTS "
                "(SELECT 1 FROM payments p WHERE p.id::text = r.payment_id)"
            ).scalar_one()
            unscheduled = connection.exec_driver_sql(
                "SELECT count(*) FROM payments p WHERE NOT EXISTS (SELECT 1 FROM outbox o WHERE o.payment_id = p.id)"
            ).scalar_one()
    finally:
        engine.dispose()
    assert dangling == 0 and unscheduled == 0, "half-written intake"
    figures = assert_settled(stack, ids)
    record(
        "4-postgres-restart",
        **figures,
        down_s=DOWN_S,
        answers=dict(sorted(seen.items())),
        all_final_after_restart_s=round(recovered, 1),
    )
