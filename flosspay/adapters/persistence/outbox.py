"""The transactional outbox: messages written with the state that needs them, relayed later."""

from __future__ import annotations

import functools
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import Select, bindparam, select, update

from flosspay.adapters.persistence import mapping
from flosspay.adapters.persistence.column_types import UtcDateTime
from flosspay.adapters.persistence.connection import GuardedConnection
from flosspay.adapters.persistence.tables import outbox
from flosspay.domain.outbox import OutboxMessage

_INSERT = outbox.insert()
_MARK = (
    update(outbox)
    .where(outbox.c.id.in_(bindparam("b_ids", expanding=True)), outbox.c.dispatched_at.is_(None))
    .values(dispatched_at=bindparam("b_now", type_=UtcDateTime()))
)


@functools.cache
def _due(is_postgres: bool) -> Select[tuple[int, ...]]:
    """Oldest due rows first; on PostgreSQL locked ones are skipped so relays never share a row.

    SQLite needs no lock: its writers are serialized (``BEGIN IMMEDIATE``).
    """
    query = (
        select(
            outbox.c.id,
            outbox.c.payment_id,
            outbox.c.topic,
            outbox.c.available_at,
            outbox.c.request_id,
            outbox.c.refund_id,
        )
        .where(outbox.c.dispatched_at.is_(None), outbox.c.available_at <= bindparam("b_now", type_=UtcDateTime()))
        .order_by(outbox.c.available_at, outbox.c.id)
        .limit(bindparam("b_limit"))
    )
    return query.with_for_update(skip_locked=True) if is_postgres else query


class SqlOutbox:
    def __init__(self, db: GuardedConnection) -> None:
        self._db = db

    def add(self, message: OutboxMessage) -> None:
        self._db.execute(_INSERT, mapping.outbox_row(message))

    def fetch_due(self, now: datetime, limit: int) -> list[OutboxMessage]:
        rows = self._db.execute(_due(self._db.is_postgres), {"b_now": now, "b_limit": limit}).mappings()
        return [mapping.outbox_from_row(row) for row in rows]

    def mark_dispatched(self, ids: Sequence[int], now: datetime) -> None:
        if ids:
            self._db.execute(_MARK, {"b_ids": list(ids), "b_now": now})
