"""Idempotency records: a key is claimed by one statement, so two requests can never both win."""

from __future__ import annotations

import functools
from datetime import datetime

from sqlalchemy import Delete, Executable, bindparam, delete, select, tuple_

from flosspay.adapters.persistence import mapping
from flosspay.adapters.persistence.column_types import UtcDateTime
from flosspay.adapters.persistence.connection import GuardedConnection, upsert_insert
from flosspay.adapters.persistence.tables import idempotency_records as records
from flosspay.domain.errors import IdempotencyInProgress
from flosspay.domain.idempotency import IdempotencyRecord

_COLUMNS = ("client_id", "key", "fingerprint", "response_status", "response_body", "created_at", "expires_at")
_REPLACED = (*_COLUMNS[2:], "payment_id")

_SELECT = select(records).where(records.c.client_id == bindparam("b_client"), records.c.key == bindparam("b_key"))


@functools.cache
def claim_statement(is_postgres: bool) -> Executable:
    """INSERT, or take over an expired record; RETURNING yields a row only when this call stored it."""
    insert = upsert_insert(records, is_postgres).values({name: bindparam(name) for name in (*_COLUMNS, "payment_id")})
    return insert.on_conflict_do_update(
        index_elements=[records.c.client_id, records.c.key],
        set_={name: insert.excluded[name] for name in _REPLACED},
        where=records.c.expires_at <= bindparam("b_now", type_=UtcDateTime()),
    ).returning(records.c.key)


@functools.cache
def _purge(is_postgres: bool) -> Delete:
    expired = (
        select(records.c.client_id, records.c.key)
        .where(records.c.expires_at <= bindparam("b_now", type_=UtcDateTime()))
        .limit(bindparam("b_limit"))
    )
    if is_postgres:
        expired = expired.with_for_update(skip_locked=True)
    return delete(records).where(tuple_(records.c.client_id, records.c.key).in_(expired))


class SqlIdempotencyStore:
    def __init__(self, db: GuardedConnection) -> None:
        self._db = db

    def claim(self, record: IdempotencyRecord, now: datetime) -> bool:
        """True when this call stored ``record``; False while a live record holds the key.

        On PostgreSQL a concurrent claim that is not yet committed makes this wait; past the
        connection's ``lock_timeout`` it raises ``IdempotencyInProgress``.
        """
        in_progress = IdempotencyInProgress("a request with this Idempotency-Key is in progress; retry shortly")
        params = mapping.idempotency_row(record) | {"b_now": now}
        result = self._db.execute(claim_statement(self._db.is_postgres), params, lock_timeout=in_progress)
        return result.first() is not None

    def get(self, client_id: str, key: str) -> IdempotencyRecord | None:
        row = self._db.execute(_SELECT, {"b_client": client_id, "b_key": key}).mappings().first()
        return mapping.idempotency_from_row(row) if row is not None else None

    def purge_expired(self, now: datetime, limit: int) -> int:
        """Delete up to ``limit`` expired records; returns how many went."""
        result = self._db.execute(_purge(self._db.is_postgres), {"b_now": now, "b_limit": limit})
        return int(result.rowcount)
