"""The connection a unit of work runs on, with every driver failure translated at the call."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from typing import Any

import psycopg
import sqlalchemy.exc
from sqlalchemy import CursorResult, Engine, Executable, Table
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection

from flosspay.adapters.persistence.failures import reraise, translate_driver_error
from flosspay.domain.errors import DomainError

logger = logging.getLogger(__name__)


class GuardedConnection:
    """Holds the unit of work's connection; ``execute`` raises domain errors, never driver errors."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.is_postgres = engine.dialect.name == "postgresql"
        self._connection: Connection | None = None

    def open(self) -> None:
        try:
            self._connection = self.engine.connect()
            self._connection.begin()
        except (sqlalchemy.exc.DBAPIError, sqlalchemy.exc.TimeoutError) as exc:
            self.close()
            reraise(exc)

    @property
    def connection(self) -> Connection:
        if self._connection is None:
            raise RuntimeError("the unit of work is not open; use it in a `with` block")
        return self._connection

    @contextlib.contextmanager
    def driver(self, lock_timeout: DomainError | None = None) -> Iterator[psycopg.Connection[Any]]:
        """The unit of work's psycopg connection (PostgreSQL), its errors translated as ``execute``'s are.

        For the few hot statements where SQLAlchemy's per-row processing costs more than the work
        (the intake, the payment save and load, the chainer: ADRs 0015, 0023).
        """
        raw = self.connection.connection.driver_connection
        assert isinstance(raw, psycopg.Connection)
        try:
            yield raw
        except psycopg.Error as exc:
            raise translate_driver_error(exc, lock_timeout) from exc

    def execute(
        self, statement: Executable, params: Any = None, *, lock_timeout: DomainError | None = None
    ) -> CursorResult[Any]:
        try:
            return self.connection.execute(statement, params)
        except sqlalchemy.exc.DBAPIError as exc:
            reraise(exc, lock_timeout)

    def commit(self) -> None:
        try:
            self.connection.commit()
        except sqlalchemy.exc.DBAPIError as exc:
            reraise(exc)

    def rollback(self) -> None:
        try:
            self.connection.rollback()
        except sqlalchemy.exc.DBAPIError as exc:
            reraise(exc)

    def close(self) -> None:
        """Roll back whatever is open and give the connection back to the pool; never raises."""
        connection, self._connection = self._connection, None
        if connection is None:
            return
        try:
            connection.close()  # rolls back an open transaction
        except Exception:  # the database went away: the pool discards the connection
            logger.debug("closing a database connection failed", exc_info=True)


def upsert_insert(table: Table, is_postgres: bool) -> postgresql.Insert | sqlite.Insert:
    """An INSERT that supports ``ON CONFLICT`` on this backend (both share the same API)."""
    return postgresql.insert(table) if is_postgres else sqlite.insert(table)
