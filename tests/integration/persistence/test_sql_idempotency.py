"""Idempotency records: one claim wins per live key, expired keys are taken over, waits time out."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta

import pytest

from flosspay.adapters.persistence.engine import create_engine
from flosspay.adapters.persistence.unit_of_work import SqlUnitOfWorkFactory
from flosspay.domain.errors import IdempotencyInProgress
from flosspay.domain.idempotency import IdempotencyRecord
from tests.integration.persistence.support import T0, make_record

pytestmark = pytest.mark.integration


def _claim(uow_factory: SqlUnitOfWorkFactory, record: IdempotencyRecord, now: datetime = T0) -> bool:
    """Claim in a unit of work of its own, committed."""
    with uow_factory() as uow:
        stored = uow.idempotency.claim(record, now)
        uow.commit()
    return stored


def test_the_first_claim_stores_and_a_second_is_refused(uow_factory: SqlUnitOfWorkFactory) -> None:
    body = b'{"id":"p1","status":"QUEUED"}\x00\xff'
    assert _claim(uow_factory, make_record(body=body, payment_id="p1")) is True
    assert _claim(uow_factory, make_record(fingerprint="other"), T0 + timedelta(hours=23)) is False
    with uow_factory() as uow:
        stored = uow.idempotency.get("cl_test", "key-1")
    assert stored == make_record(body=body, payment_id="p1")
    assert isinstance(stored.response_body, bytes)
    assert stored.expires_at.utcoffset() == timedelta(0)


def test_a_second_claim_in_the_same_transaction_is_refused(uow_factory: SqlUnitOfWorkFactory) -> None:
    with uow_factory() as uow:
        assert uow.idempotency.claim(make_record(), T0)
        assert not uow.idempotency.claim(make_record(fingerprint="fp-2"), T0)
        assert uow.idempotency.get("cl_test", "key-1") == make_record()


def test_an_expired_record_is_replaced(uow_factory: SqlUnitOfWorkFactory) -> None:
    assert _claim(uow_factory, make_record(ttl=timedelta(hours=1)))
    later = T0 + timedelta(hours=1)  # expires_at <= now: expired
    assert _claim(uow_factory, make_record(fingerprint="fp-new", now=later, payment_id="p2"), later)
    with uow_factory() as uow:
        stored = uow.idempotency.get("cl_test", "key-1")
    assert stored is not None
    assert (stored.fingerprint, stored.created_at, stored.payment_id) == ("fp-new", later, "p2")


def test_keys_of_different_clients_are_independent(uow_factory: SqlUnitOfWorkFactory) -> None:
    assert _claim(uow_factory, make_record(client_id="cl_a"))
    assert _claim(uow_factory, make_record(client_id="cl_b", fingerprint="fp-b"))
    assert _claim(uow_factory, make_record(client_id="cl_a", key="key-2"))
    with uow_factory() as uow:
        a, b = uow.idempotency.get("cl_a", "key-1"), uow.idempotency.get("cl_b", "key-1")
        assert uow.idempotency.get("cl_c", "key-1") is None
    assert a is not None and b is not None
    assert (a.fingerprint, b.fingerprint) == ("fp-1", "fp-b")


def test_a_rolled_back_claim_frees_the_key(uow_factory: SqlUnitOfWorkFactory) -> None:
    with uow_factory() as uow:
        assert uow.idempotency.claim(make_record(), T0)
    assert _claim(uow_factory, make_record(fingerprint="fp-2"))


def test_purge_expired_deletes_only_expired_records_up_to_the_limit(uow_factory: SqlUnitOfWorkFactory) -> None:
    for n in range(3):
        assert _claim(uow_factory, make_record(key=f"old-{n}", ttl=timedelta(minutes=1)))
    assert _claim(uow_factory, make_record(key="live", ttl=timedelta(days=1)))
    now = T0 + timedelta(hours=1)
    with uow_factory() as uow:
        assert uow.idempotency.purge_expired(now, 2) == 2
        assert uow.idempotency.purge_expired(now, 2) == 1
        assert uow.idempotency.purge_expired(now, 2) == 0
        uow.commit()
    with uow_factory() as uow:
        assert uow.idempotency.get("cl_test", "live") is not None
        assert all(uow.idempotency.get("cl_test", f"old-{n}") is None for n in range(3))


def test_fifty_threads_claiming_one_key_store_it_once(uow_factory: SqlUnitOfWorkFactory) -> None:
    """On PostgreSQL the claims race on the row; on SQLite they queue at BEGIN IMMEDIATE."""
    start = threading.Barrier(50)

    def claim(n: int) -> str:
        start.wait()
        try:
            with uow_factory() as uow:
                stored = uow.idempotency.claim(make_record(fingerprint=f"fp-{n}"), T0)
                uow.commit()
            return "stored" if stored else "refused"
        except IdempotencyInProgress:
            return "in progress"

    with ThreadPoolExecutor(50) as pool:
        outcomes = list(pool.map(claim, range(50)))
    assert outcomes.count("stored") == 1
    assert set(outcomes) <= {"stored", "refused", "in progress"}
    with uow_factory() as uow:
        stored = uow.idempotency.get("cl_test", "key-1")
    assert stored is not None and outcomes[int(stored.fingerprint.removeprefix("fp-"))] == "stored"


@pytest.mark.postgres
@pytest.mark.parametrize("database_url", ["postgres"], indirect=True)  # SQLite has no row lock to wait on
def test_waiting_on_an_uncommitted_claim_times_out_as_in_progress(database_url: str) -> None:
    engine = create_engine(database_url, pool_size=2, lock_timeout_ms=200)
    factory = SqlUnitOfWorkFactory(engine)
    try:
        with factory() as holder:
            assert holder.idempotency.claim(make_record(), T0)
            with pytest.raises(IdempotencyInProgress), factory() as waiter:
                waiter.idempotency.claim(make_record(fingerprint="fp-2"), T0)
            holder.commit()
        with factory() as uow:
            stored = uow.idempotency.get("cl_test", "key-1")
        assert stored is not None and stored.fingerprint == "fp-1"
    finally:
        engine.dispose()
