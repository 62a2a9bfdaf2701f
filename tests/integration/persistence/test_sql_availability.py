"""A database that is down or goes away shows up as ServiceUnavailable, never as a driver error."""

from __future__ import annotations

import socket
import time
import uuid
from pathlib import Path

import pytest
from sqlalchemy import Engine, text
from sqlalchemy.engine import make_url

from flosspay.adapters.persistence.engine import create_engine, parse_url
from flosspay.adapters.persistence.health import database_ok
from flosspay.adapters.persistence.migrate import upgrade
from flosspay.adapters.persistence.unit_of_work import SqlUnitOfWorkFactory
from flosspay.domain.errors import ServiceUnavailable
from tests.integration.persistence.support import make_payment

pytestmark = pytest.mark.integration


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def dead_postgres_url() -> str:
    return f"postgresql+psycopg://postgres@127.0.0.1:{_closed_port()}/flosspay"


def test_an_unreachable_postgres_gives_service_unavailable(dead_postgres_url: str) -> None:
    engine = create_engine(dead_postgres_url)
    try:
        with pytest.raises(ServiceUnavailable, match="database unavailable"), SqlUnitOfWorkFactory(engine)():
            pass
        assert database_ok(engine) is False
    finally:
        engine.dispose()
    with pytest.raises(ServiceUnavailable, match="database unavailable"):
        upgrade(dead_postgres_url)


def test_an_unopenable_sqlite_file_gives_service_unavailable(tmp_path: Path) -> None:
    engine = create_engine(f"sqlite:///{tmp_path}")  # a directory, not a database file
    try:
        with pytest.raises(ServiceUnavailable, match="database unavailable"), SqlUnitOfWorkFactory(engine)():
            pass
        assert database_ok(engine) is False
    finally:
        engine.dispose()


def test_a_live_database_is_ok(engine: Engine) -> None:
    assert database_ok(engine) is True


def _terminate_sessions(admin: Engine, database_url: str) -> None:
    """Kill every server session on the test database, as a crash or failover would, and wait."""
    name = make_url(database_url).database
    with admin.connect() as connection:
        connection.execute(
            text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = :n"), {"n": name}
        )
        deadline = time.monotonic() + 5
        query = text("SELECT count(*) FROM pg_stat_activity WHERE datname = :n")
        while connection.execute(query, {"n": name}).scalar_one() and time.monotonic() < deadline:
            time.sleep(0.02)


@pytest.mark.postgres
@pytest.mark.parametrize("database_url", ["postgres"], indirect=True)
def test_a_connection_lost_mid_transaction_gives_service_unavailable(
    database_url: str, uow_factory: SqlUnitOfWorkFactory, pg_admin_engine: Engine
) -> None:
    with pytest.raises(ServiceUnavailable, match="database unavailable"), uow_factory() as uow:
        uow.payments.get(uuid.uuid4())
        _terminate_sessions(pg_admin_engine, database_url)
        uow.payments.get(uuid.uuid4())
    with pytest.raises(ServiceUnavailable, match="database unavailable"), uow_factory() as uow:
        uow.payments.add(make_payment())
        _terminate_sessions(pg_admin_engine, database_url)
        uow.commit()
    payment = make_payment()
    with uow_factory() as uow:  # the pool replaced the dead connections
        uow.payments.add(payment)
        uow.commit()
    with uow_factory() as uow:
        assert uow.payments.get(payment.id) is not None


def test_engines_are_tuned_per_backend(engine: Engine) -> None:
    with engine.connect() as connection:
        if engine.dialect.name == "sqlite":
            pragmas = {
                name: connection.exec_driver_sql(f"PRAGMA {name}").scalar()
                for name in ("journal_mode", "foreign_keys", "busy_timeout", "synchronous")
            }
            assert pragmas == {"journal_mode": "wal", "foreign_keys": 1, "busy_timeout": 5000, "synchronous": 2}
        else:
            assert connection.exec_driver_sql("SHOW lock_timeout").scalar() == "3s"
            assert engine.pool.size() == 32  # type: ignore[attr-defined]


def test_a_postgres_url_without_driver_means_psycopg() -> None:
    assert parse_url("postgresql://u@h/db").drivername == "postgresql+psycopg"
    assert parse_url("postgres://u@h/db").drivername == "postgresql+psycopg"


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)  # PostgreSQL writers do not queue at BEGIN
def test_sqlite_writers_queue_at_begin_and_a_long_wait_is_busy(database_url: str) -> None:
    engine = create_engine(database_url, busy_timeout_ms=100)
    factory = SqlUnitOfWorkFactory(engine)
    try:
        with factory() as holder:
            holder.payments.add(make_payment())
            started = time.monotonic()
            with pytest.raises(ServiceUnavailable, match="database busy"), factory():
                pass
            assert time.monotonic() - started >= 0.09
            assert database_ok(engine) is True  # a plain read does not wait for the writer
            holder.commit()
        with factory() as uow:  # the lock is free again
            uow.payments.add(make_payment())
            uow.commit()
    finally:
        engine.dispose()
