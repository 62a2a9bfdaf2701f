"""The connection a unit of work runs on, with every driver failure translated at the call."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from typing import Any, cast

import psycopg
import sqlalchemy.exc
from sqlalchemy import CursorResult, Engine, Executable, Table
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection
from sqlalchemy.pool import PoolProxiedConnection

from flosspay.adapters.persistence.failures import reraise, translate_driver_error
from flosspay.domain.errors import DomainError

logger = logging.getLogger(__name__)

_CURSOR_KEY = "flosspay_statement_cursor"


class GuardedConnection:
    """Holds the unit of work's connection; ``execute`` raises domain errors, never driver errors.

    On PostgreSQL the unit of work holds the pool's connection itself and wraps it in SQLAlchemy's
    ``Connection`` only when a SQLAlchemy statement runs: the worker's units of work (load, save,
    commit) go straight to psycopg, and the ``Connection`` object, its transaction object and their
    events cost more than the statements' own client work (ADR 0025). The pool (bounds, timeout,
    recycle, rollback on return) is SQLAlchemy's either way.
    """

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.is_postgres = engine.dialect.name == "postgresql"
        self._connection: Connection | None = None
        self._pooled: PoolProxiedConnection | None = None  # PostgreSQL: checked out, not yet wrapped

    def open(self) -> None:
        try:
            if self.is_postgres:
                # psycopg begins the transaction at the first statement; nothing to send here
                self._pooled = self.engine.raw_connection()
                return
            self._connection = self.engine.connect()
            self._connection.begin()
        except psycopg.Error as exc:  # raw_connection: the pool does not wrap the driver's errors
            self.close()
            raise translate_driver_error(exc) from exc
        except (sqlalchemy.exc.DBAPIError, sqlalchemy.exc.TimeoutError) as exc:
            self.close()
            reraise(exc)

    @property
    def connection(self) -> Connection:
        if self._connection is None:
            if self._pooled is None:
                raise RuntimeError("the unit of work is not open; use it in a `with` block")
            # the first SQLAlchemy statement of a PostgreSQL unit of work: same connection, same transaction
            self._connection = Connection(self.engine, self._pooled)
            self._connection.begin()
        return self._connection

    def _driver_connection(self) -> psycopg.Connection[Any]:
        pooled = self._pooled if self._pooled is not None else self.connection.connection
        raw = pooled.driver_connection
        assert isinstance(raw, psycopg.Connection)
        return raw

    def cursor(self, raw: psycopg.Connection[Any]) -> psycopg.Cursor[Any]:
        """One cursor per database connection, kept in the pool's record of it (which SQLAlchemy clears,
        the cursor with it, when the connection closes or is invalidated): ``raw.execute`` made and
        dropped a cursor per statement, copying the connection's adapters each time (~8 µs of client
        CPU per statement, ADR 0024). For the intake and the payment save, whose rows are read at once."""
        pooled = self._pooled if self._pooled is not None else self.connection.connection
        cursor = pooled.info.get(_CURSOR_KEY)
        if cursor is None or cursor.closed or cursor.connection is not raw:
            cursor = pooled.info[_CURSOR_KEY] = raw.cursor()
        return cast("psycopg.Cursor[Any]", cursor)

    @contextlib.contextmanager
    def driver(self, lock_timeout: DomainError | None = None) -> Iterator[psycopg.Connection[Any]]:
        """The unit of work's psycopg connection (PostgreSQL), its errors translated as ``execute``'s are.

        For the few hot statements where SQLAlchemy's per-row processing costs more than the work
        (the intake, the payment save and load, the chainer: ADRs 0015, 0023).
        """
        raw = self._driver_connection()
        try:
            yield raw
        except psycopg.Error as exc:
            if self._pooled is not None and (raw.closed or raw.broken):  # the psycopg dialect's is_disconnect
                # as SQLAlchemy does for its own statements: this connection is discarded, and every
                # pooled one opened before it is replaced at its next checkout (the server restarted)
                self.engine.pool._invalidate(self._pooled, exc)
            raise translate_driver_error(exc, lock_timeout) from exc

    def execute(
        self, statement: Executable, params: Any = None, *, lock_timeout: DomainError | None = None
    ) -> CursorResult[Any]:
        try:
            return self.connection.execute(statement, params)
        except sqlalchemy.exc.DBAPIError as exc:
            reraise(exc, lock_timeout)

    def commit(self) -> None:
        if self._connection is None:
            with self.driver() as raw:
                raw.commit()
            return
        try:
            self._connection.commit()
        except sqlalchemy.exc.DBAPIError as exc:
            reraise(exc)

    def rollback(self) -> None:
        if self._connection is None:
            with self.driver() as raw:
                raw.rollback()
            return
        try:
            self._connection.rollback()
        except sqlalchemy.exc.DBAPIError as exc:
            reraise(exc)

    def close(self) -> None:
        """Roll back whatever is open and give the connection back to the pool; never raises."""
        connection, self._connection = self._connection, None
        pooled, self._pooled = self._pooled, None
        try:
            if connection is not None:
                connection.close()  # rolls back an open transaction (and checks ``pooled`` in)
            elif pooled is not None:
                pooled.close()  # the pool rolls back on return; a connection that fails that is discarded
        except Exception:  # the database went away: the pool discards the connection
            logger.debug("closing a database connection failed", exc_info=True)


def upsert_insert(table: Table, is_postgres: bool) -> postgresql.Insert | sqlite.Insert:
    """An INSERT that supports ``ON CONFLICT`` on this backend (both share the same API)."""
    return postgresql.insert(table) if is_postgres else sqlite.insert(table)
