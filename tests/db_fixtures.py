"""Database fixtures shared by integration and end-to-end tests (a pytest plugin module).

Registered by ``tests/conftest.py``; every test under ``tests/`` may ask for these by name:

- ``sqlite_url``: URL of a SQLite file in the test's ``tmp_path`` (not migrated).
- ``pg_database_url``: URL of a fresh, empty, uniquely named PostgreSQL database on the
  ``postgres_url`` server, dropped after the test (even with connections still open).
  Skipped (or failed under FLOSSPAY_REQUIRE_SERVICES=1) without PostgreSQL.
- ``database_url``: parametrized over ``sqlite`` and ``postgres`` (the latter marked ``postgres``);
  a database of its own per test, migrated to head with ``migrate.upgrade()``. PostgreSQL copies
  are cloned from a template migrated once per session, which keeps each test fast.
- ``engine``: ``persistence.create_engine(database_url)``, disposed after the test.
- ``uow_factory``: ``SqlUnitOfWorkFactory(engine, TEST_SECRET_BOX)`` on the migrated database.
- ``pg_admin_engine`` (session): autocommit engine on the ``postgres_url`` server, e.g. to kill sessions.

A test that only makes sense on one backend narrows ``database_url`` with
``@pytest.mark.parametrize("database_url", ["postgres"], indirect=True)`` (and marks itself
``postgres``). The migrations create an append-only trigger on ``payment_history``: every test
gets a database of its own, so nothing ever needs deleting.

Use ``engine.dialect.name`` (``"sqlite"`` / ``"postgresql"``) when a test depends on the backend.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy
from sqlalchemy import Engine
from sqlalchemy.engine import make_url
from sqlalchemy.pool import NullPool

from flosspay.adapters.persistence.engine import create_engine
from flosspay.adapters.persistence.migrate import upgrade
from flosspay.adapters.persistence.unit_of_work import SqlUnitOfWorkFactory
from flosspay.adapters.secret_box import SecretBox

DATABASE_PREFIX = "flosspay_t_"
TEST_SECRET_BOX = SecretBox(b"test-secret-key-of-the-db-fixtures")


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    """A SQLite database file of this test's own, not yet created."""
    return f"sqlite:///{tmp_path / 'flosspay.db'}"


@pytest.fixture(scope="session")
def pg_admin_engine(postgres_url: str) -> Iterator[Engine]:
    """An autocommit connection to the test server, for CREATE/DROP DATABASE."""
    admin = sqlalchemy.create_engine(make_url(postgres_url), isolation_level="AUTOCOMMIT", poolclass=NullPool)
    yield admin
    admin.dispose()


def _create_database(admin: Engine, template: str | None = None) -> str:
    name = DATABASE_PREFIX + uuid.uuid4().hex[:16]
    clause = f" TEMPLATE {template}" if template else ""
    with admin.connect() as connection:
        connection.exec_driver_sql(f"CREATE DATABASE {name}{clause}")
    return name


def _drop_database(admin: Engine, name: str) -> None:
    with admin.connect() as connection:
        connection.exec_driver_sql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def _url_of(postgres_url: str, name: str) -> str:
    return make_url(postgres_url).set(database=name).render_as_string(hide_password=False)


@pytest.fixture
def pg_database_url(postgres_url: str, pg_admin_engine: Engine) -> Iterator[str]:
    """A fresh, empty PostgreSQL database, dropped after the test."""
    name = _create_database(pg_admin_engine)
    try:
        yield _url_of(postgres_url, name)
    finally:
        _drop_database(pg_admin_engine, name)


@pytest.fixture(scope="session")
def pg_migrated_template(postgres_url: str, pg_admin_engine: Engine) -> Iterator[str]:
    """Name of a database migrated to head once per session, which ``database_url`` clones."""
    name = _create_database(pg_admin_engine)
    try:
        upgrade(_url_of(postgres_url, name))  # disposes its engine: nobody stays connected to the template
        yield name
    finally:
        _drop_database(pg_admin_engine, name)


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest) -> Iterator[str]:
    """A database of this test's own at the newest schema, on SQLite and on PostgreSQL."""
    if request.param == "sqlite":
        url: str = request.getfixturevalue("sqlite_url")
        upgrade(url)
        yield url
        return
    postgres_url: str = request.getfixturevalue("postgres_url")
    admin: Engine = request.getfixturevalue("pg_admin_engine")
    template: str = request.getfixturevalue("pg_migrated_template")
    name = _create_database(admin, template)
    try:
        yield _url_of(postgres_url, name)
    finally:
        _drop_database(admin, name)


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    """The application's engine on the migrated test database."""
    created = create_engine(database_url)
    yield created
    created.dispose()


@pytest.fixture
def uow_factory(engine: Engine) -> SqlUnitOfWorkFactory:
    """Units of work on the migrated test database, as the application makes them."""
    return SqlUnitOfWorkFactory(engine, TEST_SECRET_BOX)
