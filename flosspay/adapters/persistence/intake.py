"""The payment intake as one statement on PostgreSQL: claim the key, and only then store the payment.

The hot path of FlossPay. Four data-modifying CTEs (idempotency claim, payment, first history row,
outbox message) run as a single statement, straight to the driver (no per-parameter SQLAlchemy
processing). Accepting a payment thus costs BEGIN, one statement and COMMIT instead of six round
trips. (psycopg's pipeline mode would save the BEGIN round trip, but its wait loop spins holding
the GIL and cost more CPU than it saved, measured with py-spy --gil.) On SQLite, where round trips
are function calls, the same writes are plain statements in the unit of work's transaction.
"""

from __future__ import annotations

import functools
from datetime import datetime
from typing import Any

from psycopg.types.json import Jsonb
from sqlalchemy import Dialect, Select, bindparam, func, select

from flosspay.adapters.persistence.connection import GuardedConnection
from flosspay.adapters.persistence.idempotency import claim_statement
from flosspay.adapters.persistence.tables import outbox, payment_history, payments
from flosspay.domain.errors import DomainError


def _params(table: Any, names: tuple[str, ...], prefix: str) -> list[Any]:
    return [bindparam(f"{prefix}{name}", type_=table.c[name].type).label(name) for name in names]


@functools.cache
def accept_statement(
    payment_columns: tuple[str, ...], history_columns: tuple[str, ...], outbox_columns: tuple[str, ...]
) -> Select[int]:
    """``SELECT count(*) FROM claim`` with the dependent inserts as CTEs; 1 when the key was claimed.

    Bind names are the column names prefixed ``p_`` (payment), ``h_`` (history), ``o_`` (outbox);
    the claim uses the idempotency statement's own names.
    """
    claim = claim_statement(True).cte("claim")  # type: ignore[attr-defined]
    payment = (
        payments.insert()
        .from_select(payment_columns, select(*_params(payments, payment_columns, "p_")).select_from(claim))
        .returning(payments.c.id)
        .cte("payment")
    )
    history = (
        payment_history.insert()
        .from_select(history_columns, select(*_params(payment_history, history_columns, "h_")).select_from(payment))
        .cte("history")
    )
    message = (
        outbox.insert()
        .from_select(outbox_columns, select(*_params(outbox, outbox_columns, "o_")).select_from(payment))
        .cte("message")
    )
    return select(func.count()).select_from(claim).add_cte(payment, history, message)


@functools.cache
def accept_sql(
    dialect: Dialect,
    payment_columns: tuple[str, ...],
    history_columns: tuple[str, ...],
    outbox_columns: tuple[str, ...],
) -> str:
    """The statement as psycopg SQL text (``%(name)s`` placeholders), compiled once."""
    return str(accept_statement(payment_columns, history_columns, outbox_columns).compile(dialect=dialect))


def driver_params(params: dict[str, Any]) -> dict[str, Any]:
    """Values as psycopg takes them: JSON documents wrapped, times checked to be timezone-aware."""
    out: dict[str, Any] = {}
    for name, value in params.items():
        if isinstance(value, dict):
            value = Jsonb(value)
        elif isinstance(value, datetime) and value.utcoffset() is None:
            raise ValueError(f"refusing to store a naive datetime for {name}")
        out[name] = value
    return out


def execute_accept(db: GuardedConnection, sql: str, params: dict[str, Any], lock_timeout: DomainError) -> bool:
    """Run the intake statement on the raw psycopg connection; True if the key was claimed."""
    with db.driver(lock_timeout) as raw:
        row = db.cursor(raw).execute(sql, driver_params(params), prepare=True).fetchone()
    return row is not None and row[0] == 1
