"""Engines tuned per backend: SQLite (embedded default) and PostgreSQL through psycopg 3."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import msgspec
import sqlalchemy
from sqlalchemy import Engine, event
from sqlalchemy.engine import URL, Connection, make_url
from sqlalchemy.exc import ArgumentError
from sqlalchemy.pool import ConnectionPoolEntry

from flosspay.adapters.private_files import ensure_private_dir, touch_private_file

# Execution option that makes a SQLite transaction start as a plain (deferred) read transaction.
READ_ONLY = "flosspay_read_only"

MIN_SQLITE = (3, 35)  # INSERT ... ON CONFLICT ... RETURNING


def _json_dumps(value: Any) -> str:
    return msgspec.json.encode(value).decode()


def parse_url(url: str) -> URL:
    """Validate a database URL; ``postgresql://`` means psycopg 3. Raises ``ValueError`` with the reason."""
    try:
        parsed = make_url(url)
    except ArgumentError:
        raise ValueError("database URL is malformed; expected sqlite:///PATH or postgresql+psycopg://...") from None
    if parsed.drivername in ("postgresql", "postgres", "postgresql+psycopg"):
        return parsed.set(drivername="postgresql+psycopg")
    if parsed.drivername in ("sqlite", "sqlite+pysqlite"):
        if parsed.database in (None, "", ":memory:") or parsed.query.get("mode") == "memory":
            raise ValueError("an in-memory SQLite database cannot be shared by threads; use a file: sqlite:///PATH")
        return parsed
    raise ValueError(
        f"unsupported database {parsed.drivername!r}; use sqlite:///PATH or postgresql+psycopg://USER@HOST/DB"
    )


def create_engine(
    url: str,
    *,
    pool_size: int = 32,
    lock_timeout_ms: int = 3000,
    busy_timeout_ms: int = 5000,
    connect_timeout_s: int = 5,
) -> Engine:
    """An Engine for ``url`` (``sqlite:///PATH`` or ``postgresql+psycopg://...``), tuned per backend.

    PostgreSQL: a pool for ``pool_size`` threads; ``lock_timeout`` on every connection, so a request
    waiting on a row another transaction holds (the same idempotency key) gives up instead of queueing.
    SQLite: WAL, ``busy_timeout``, foreign keys, durable commits, and write transactions opened with
    ``BEGIN IMMEDIATE`` so two transactions never deadlock upgrading a read lock to a write lock.
    """
    parsed = parse_url(url)
    if parsed.get_backend_name() == "postgresql":
        return sqlalchemy.create_engine(
            parsed,
            pool_size=pool_size,
            max_overflow=0,
            pool_timeout=10,
            pool_recycle=1800,
            json_serializer=_json_dumps,
            connect_args={
                "options": f"-c lock_timeout={int(lock_timeout_ms)}",
                "connect_timeout": connect_timeout_s,
                "application_name": "flosspay",
            },
        )
    return _create_sqlite_engine(parsed, pool_size=pool_size, busy_timeout_ms=busy_timeout_ms)


def _create_sqlite_engine(url: URL, *, pool_size: int, busy_timeout_ms: int) -> Engine:
    if sqlite3.sqlite_version_info < MIN_SQLITE:
        raise RuntimeError(f"SQLite {sqlite3.sqlite_version} is too old; FlossPay needs 3.35 or newer")
    assert url.database is not None
    if url.database and not url.database.startswith("file:") and url.database != ":memory:":
        database = Path(url.database).expanduser()
        ensure_private_dir(database.parent)
        touch_private_file(database)  # 0600 from birth; SQLite gives its -wal and -shm files the same mode
    engine = sqlalchemy.create_engine(
        url,
        pool_size=pool_size,
        max_overflow=0,
        pool_timeout=10,
        json_serializer=_json_dumps,
        connect_args={"timeout": busy_timeout_ms / 1000, "check_same_thread": False},
    )

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: sqlite3.Connection, _record: ConnectionPoolEntry) -> None:
        dbapi_connection.isolation_level = None  # SQLAlchemy (below) issues BEGIN, not the driver
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=FULL")  # an accepted payment survives a power cut
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute(f"PRAGMA busy_timeout={int(busy_timeout_ms)}")
        finally:
            cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Connection) -> None:
        read_only = connection.get_execution_options().get(READ_ONLY, False)
        connection.exec_driver_sql("BEGIN" if read_only else "BEGIN IMMEDIATE")

    return engine
