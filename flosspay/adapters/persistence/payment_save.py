"""Saving a payment as one statement on PostgreSQL: the worker's claim and its completion.

A save writes the payment row (only if its version is still the one read), its new history rows,
its touched attempts, the webhook events the change causes with their deliveries, and, when money
moved, the journal entry and its postings. Statement by statement that is seven to nine round trips,
each paid twice over: SQLAlchemy's per-statement work in the worker and a parse/plan/execute in
PostgreSQL (ADR 0015). Here the optimistic UPDATE is a data-modifying CTE ``p`` that RETURNs the id,
and every insert selects ``FROM p``: when the version is stale ``p`` is empty, nothing is written,
and the statement answers 0. Foreign keys are checked at the end of the statement, so postings may
reference the entry inserted beside them (as the intake's history references its payment).
Like the intake (``intake.py``), it goes straight to psycopg, compiled once per shape.
"""

from __future__ import annotations

import functools
from typing import Any

from sqlalchemy import Dialect, Executable, Select, and_, bindparam, func, literal_column, select, union_all, update
from sqlalchemy.dialects.postgresql import insert as pg_insert

from flosspay.adapters.persistence.tables import (
    ledger_entries,
    ledger_postings,
    payment_history,
    payments,
    rail_attempts,
    webhook_deliveries,
    webhook_endpoints,
    webhook_events,
)

PAYMENT_CHANGES = (
    "status",
    "updated_at",
    "expires_at",
    "failure_code",
    "failure_reason",
    "lease_owner",
    "lease_expires_at",
    "next_action",
    "parked_at",
    "parked_reason",
    "attempt_floor",
)
HISTORY_COLUMNS = ("payment_id", "seq", "from_status", "to_status", "at", "reason", "attempt")
ATTEMPT_COLUMNS = ("payment_id", "number", "action", "outcome", "code", "reason", "started_at", "finished_at")
EVENT_COLUMNS = ("id", "client_id", "payment_id", "type", "created_at", "payload")
ENTRY_COLUMNS = ("id", "kind", "payment_id", "ref_entry_id", "posted_at", "description")
POSTING_COLUMNS = ("entry_id", "line", "account", "currency", "amount_minor")
_ATTEMPT_CHANGED = ("action", "outcome", "code", "reason", "started_at", "finished_at")


def _row(table: Any, names: tuple[str, ...], prefix: str, source: Any) -> Select[Any]:
    """``SELECT :prefix<col> AS col, … FROM source``: one row when ``source`` has one, none otherwise."""
    columns = [bindparam(f"{prefix}{name}", type_=table.c[name].type).label(name) for name in names]
    return select(*columns).select_from(source)


def _rows(table: Any, names: tuple[str, ...], prefix: str, count: int, source: Any) -> Any:
    selects = [_row(table, names, f"{prefix}{i}_", source) for i in range(count)]
    return selects[0] if count == 1 else union_all(*selects)


@functools.cache
def save_statement(history: int, attempts: int, events: int, postings: int) -> Executable:
    """``SELECT count(*) FROM p`` with every write as a CTE; 1 when the version matched, 0 when stale.

    Bind names: ``b_id``/``b_version`` and ``u_<column>`` (the payment's changes), ``h<i>_``
    (history rows), ``a<i>_`` (attempts), ``e<i>_`` (events, with ``e<i>_pattern`` the endpoints'
    LIKE), ``j_`` (the journal entry, when ``postings`` > 0) and ``l<i>_`` (its postings).
    """
    p = (
        update(payments)
        .where(payments.c.id == bindparam("b_id"), payments.c.version == bindparam("b_version"))
        .values(
            {
                **{name: bindparam(f"u_{name}", type_=payments.c[name].type) for name in PAYMENT_CHANGES},
                "version": payments.c.version + literal_column("1"),
            }
        )
        .returning(payments.c.id)
        .cte("p")
    )
    ctes: list[Any] = []
    if history:
        rows = _rows(payment_history, HISTORY_COLUMNS, "h", history, p)
        ctes.append(payment_history.insert().from_select(HISTORY_COLUMNS, rows).cte("h"))
    if attempts:
        upsert = pg_insert(rail_attempts).from_select(
            ATTEMPT_COLUMNS, _rows(rail_attempts, ATTEMPT_COLUMNS, "a", attempts, p)
        )
        upsert = upsert.on_conflict_do_update(
            index_elements=[rail_attempts.c.payment_id, rail_attempts.c.number],
            set_={name: upsert.excluded[name] for name in _ATTEMPT_CHANGED},
        )
        ctes.append(upsert.cte("a"))
    e = webhook_endpoints.c
    for i in range(events):
        prefix = f"e{i}_"
        stored = (
            pg_insert(webhook_events)
            .from_select(EVENT_COLUMNS, _row(webhook_events, EVENT_COLUMNS, prefix, p))
            .on_conflict_do_nothing()
            .returning(webhook_events.c.id, webhook_events.c.created_at)
            .cte(f"e{i}")
        )
        # Stored before (its id is deterministic): its deliveries exist already, so none are added.
        subscribed = and_(
            e.client_id == bindparam(f"{prefix}client_id", type_=webhook_events.c.client_id.type),
            e.enabled.is_(True),
            e.deleted_at.is_(None),
            e.events.like(bindparam(f"{prefix}pattern")),
        )
        fan_out = select(
            stored.c.id,
            e.id,
            literal_column("'PENDING'"),
            literal_column("0"),
            stored.c.created_at,
            stored.c.created_at,
        ).select_from(stored.join(webhook_endpoints, subscribed))
        deliveries = webhook_deliveries.insert().from_select(
            ["event_id", "endpoint_id", "status", "attempts", "next_attempt_at", "created_at"], fan_out
        )
        ctes += [stored, deliveries.cte(f"d{i}")]
    if postings:
        ctes.append(
            ledger_entries.insert().from_select(ENTRY_COLUMNS, _row(ledger_entries, ENTRY_COLUMNS, "j_", p)).cte("j")
        )
        lines = _rows(ledger_postings, POSTING_COLUMNS, "l", postings, p)
        ctes.append(ledger_postings.insert().from_select(POSTING_COLUMNS, lines).cte("l"))
    return select(func.count()).select_from(p).add_cte(*ctes)


@functools.cache
def save_sql(dialect: Dialect, history: int, attempts: int, events: int, postings: int) -> str:
    """The statement as psycopg SQL text (``%(name)s`` placeholders), compiled once per shape."""
    return str(save_statement(history, attempts, events, postings).compile(dialect=dialect))


def prefixed(prefix: str, row: dict[str, Any]) -> dict[str, Any]:
    return {prefix + name: value for name, value in row.items()}
