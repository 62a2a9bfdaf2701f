"""Driver errors in the domain's words: an unreachable or jammed database is ``ServiceUnavailable``."""

from __future__ import annotations

import sqlite3
from typing import NoReturn

import psycopg
import sqlalchemy.exc

from flosspay.domain.errors import DomainError, ServiceUnavailable

LOCK_NOT_AVAILABLE = "55P03"  # PostgreSQL: lock_timeout expired


def is_lock_timeout(exc: BaseException) -> bool:
    """True when PostgreSQL gave up waiting for a lock another transaction holds."""
    orig = getattr(exc, "orig", None)
    return getattr(orig, "sqlstate", None) == LOCK_NOT_AVAILABLE


def _is_sqlite_busy(exc: BaseException) -> bool:
    """True when SQLite's busy_timeout ran out waiting for another writer."""
    orig = getattr(exc, "orig", None)
    return isinstance(orig, sqlite3.OperationalError) and "locked" in str(orig)


def translate(exc: Exception, lock_timeout: DomainError | None = None) -> Exception:
    """The error to raise instead of ``exc`` (``exc`` itself when it is a bug, not an outage).

    ``lock_timeout``: what a lock wait that timed out means to the caller (else "database busy").
    """
    if is_lock_timeout(exc):
        return lock_timeout or ServiceUnavailable("database busy")
    if isinstance(exc, sqlalchemy.exc.TimeoutError) or _is_sqlite_busy(exc):  # pool or writer lock exhausted
        return ServiceUnavailable("database busy")
    if isinstance(exc, sqlalchemy.exc.DBAPIError) and (
        exc.connection_invalidated or isinstance(exc, sqlalchemy.exc.OperationalError | sqlalchemy.exc.InterfaceError)
    ):
        return ServiceUnavailable("database unavailable")
    return exc


def translate_driver_error(exc: psycopg.Error, lock_timeout: DomainError | None = None) -> Exception:
    """``translate`` for an error raised by psycopg itself (the intake's direct driver call)."""
    if exc.sqlstate == LOCK_NOT_AVAILABLE:
        return lock_timeout or ServiceUnavailable("database busy")
    if isinstance(exc, psycopg.OperationalError | psycopg.InterfaceError):
        return ServiceUnavailable("database unavailable")
    return exc


def reraise(exc: Exception, lock_timeout: DomainError | None = None) -> NoReturn:
    """Raise the translation of ``exc``, chained to it so logs keep the driver's message."""
    translated = translate(exc, lock_timeout)
    if translated is exc:
        raise exc
    raise translated from exc
