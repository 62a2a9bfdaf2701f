"""Saving a payment as one statement on PostgreSQL: the worker's claim and its completion.

A save writes the payment row (only if its version is still the one read), its new history rows,
its touched attempts, the webhook events the change causes with their deliveries, and, when money
moved, the journal entry and its postings. Statement by statement that is seven to nine round trips,
each paid twice over: SQLAlchemy's per-statement work in the worker and a parse/plan/execute in
PostgreSQL (ADR 0015). Here the optimistic UPDATE is a data-modifying CTE ``p`` that RETURNs the id,
and every insert selects ``FROM p``: when the version is stale ``p`` is empty, nothing is written,
and the statement answers 0. Foreign keys are checked at the end of the statement, so postings may
reference the entry inserted beside them (as the intake's history references its payment).

Rows of one table travel as one JSON document (``json_to_recordset``), so a completion has ~30
parameters whatever its shape: under psycopg's limit of 50 for caching a query's conversion (above
it, every execution re-parses the text: 8% of the worker's CPU, measured with py-spy). Like the intake (``intake.py``),
it goes straight to psycopg; the text is built once per shape.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import msgspec
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

from flosspay.adapters.persistence.connection import GuardedConnection
from flosspay.domain.errors import DomainError

# name and SQL type of the columns sent as one JSON document per table (``payment_id`` comes from ``p``)
_HISTORY = (
    ("seq", "int"),
    ("from_status", "text"),
    ("to_status", "text"),
    ("at", "timestamptz"),
    ("reason", "text"),
    ("attempt", "int"),
)
_ATTEMPTS = (
    ("number", "int"),
    ("action", "text"),
    ("outcome", "text"),
    ("code", "text"),
    ("reason", "text"),
    ("started_at", "timestamptz"),
    ("finished_at", "timestamptz"),
)
_POSTINGS = (("line", "smallint"), ("account", "text"), ("currency", "text"), ("amount_minor", "bigint"))
_CASTS = {"next_action": "::jsonb", "updated_at": "::timestamptz"}


def _unnest(param: str, columns: Sequence[tuple[str, str]]) -> str:
    """The rows of the JSON array ``param`` as typed columns (times travel as RFC 3339 text with offset)."""
    names = ", ".join(f"{name} {kind}" for name, kind in columns)
    return f"json_to_recordset(%({param})s::json) AS r({names})"


def _names(columns: Sequence[tuple[str, str]]) -> str:
    return ", ".join(name for name, _ in columns)


@functools.cache
def save_sql(changed: tuple[str, ...], history: bool, attempts: bool, events: int, entry: bool) -> str:
    """``WITH p AS (UPDATE …) … SELECT count(*) FROM p``: 1 when the version matched, 0 when stale.

    Parameters: ``b_id``, ``b_version``, ``u_<column>`` for each column in ``changed``; ``h_<column>`` and
    ``a_<column>`` arrays (history rows, attempts); per event ``e<i>_id``, ``_client_id``, ``_type``,
    ``_created_at``, ``_payload`` and ``_pattern`` (the LIKE its subscribers match); ``j_id``,
    ``j_kind``, ``j_ref_entry_id``, ``j_posted_at``, ``j_description`` and ``l_<column>`` arrays
    (the journal entry and its postings).
    """
    changes = ", ".join(f"{name} = %(u_{name})s{_CASTS.get(name, '')}" for name in changed)
    parts = [
        f"p AS (UPDATE payments SET {changes}, version = version + 1 "  # noqa: S608 (names are this module's constants)
        "WHERE id = %(b_id)s AND version = %(b_version)s RETURNING id)"
    ]
    if history:
        parts.append(
            f"h AS (INSERT INTO payment_history (payment_id, {_names(_HISTORY)}) "  # noqa: S608 (names are this module's constants)
            f"SELECT p.id, r.* FROM p, {_unnest('h', _HISTORY)})"
        )
    if attempts:
        updates = ", ".join(f"{name} = excluded.{name}" for name, _ in _ATTEMPTS if name != "number")
        parts.append(
            f"a AS (INSERT INTO rail_attempts (payment_id, {_names(_ATTEMPTS)}) "  # noqa: S608 (names are this module's constants)
            f"SELECT p.id, r.* FROM p, {_unnest('a', _ATTEMPTS)} "
            f"ON CONFLICT (payment_id, number) DO UPDATE SET {updates})"
        )
    for i in range(events):
        e = f"e{i}_"
        # Stored before (its id is deterministic): its deliveries exist already, so none are added.
        parts.append(
            f"e{i} AS (INSERT INTO webhook_events (id, client_id, payment_id, type, created_at, payload) "  # noqa: S608 (names are this module's constants)
            f"SELECT %({e}id)s, %({e}client_id)s, p.id, %({e}type)s, %({e}created_at)s::timestamptz, "
            f"%({e}payload)s::bytea FROM p ON CONFLICT DO NOTHING RETURNING id, client_id, created_at)"
        )
        parts.append(
            f"d{i} AS (INSERT INTO webhook_deliveries (event_id, endpoint_id, status, attempts, next_attempt_at, "  # noqa: S608 (names are this module's constants)
            f"created_at) SELECT e{i}.id, w.id, 'PENDING', 0, e{i}.created_at, e{i}.created_at "
            f"FROM e{i} JOIN webhook_endpoints w ON w.client_id = e{i}.client_id AND w.enabled "
            f"AND w.deleted_at IS NULL AND w.events LIKE %({e}pattern)s)"
        )
    if entry:
        parts.append(
            "j AS (INSERT INTO ledger_entries (id, kind, payment_id, ref_entry_id, posted_at, description) "
            "SELECT %(j_id)s::uuid, %(j_kind)s, p.id, %(j_ref_entry_id)s::uuid, %(j_posted_at)s::timestamptz, "
            "%(j_description)s FROM p)"
        )
        parts.append(
            f"l AS (INSERT INTO ledger_postings (entry_id, {_names(_POSTINGS)}) "  # noqa: S608 (names are this module's constants)
            f"SELECT %(j_id)s::uuid, r.* FROM p, {_unnest('l', _POSTINGS)})"
        )
    return "WITH " + ",\n".join(parts) + "\nSELECT count(*) FROM p"


def _times(columns: Sequence[tuple[str, str]]) -> tuple[str, ...]:
    return tuple(name for name, kind in columns if kind == "timestamptz")


_TIMES = {
    "payment_history": _times(_HISTORY),
    "rail_attempts": _times(_ATTEMPTS),
    "ledger_postings": _times(_POSTINGS),
    "payments": ("updated_at", "expires_at", "lease_expires_at", "parked_at"),
    "webhook_events": ("created_at",),
    "ledger_entries": ("posted_at",),
}


def _aware(rows: Sequence[dict[str, Any]], what: str) -> None:
    """Refuse a naive time (msgspec would write it without an offset): never guessed, never stored."""
    for name in _TIMES[what]:
        for row in rows:
            value = row.get(name)
            if value is not None and value.utcoffset() is None:
                raise ValueError(f"refusing to store a naive datetime for {what}.{name}")


def _document(rows: Sequence[dict[str, Any]], names: Sequence[tuple[str, str]], what: str) -> str:
    """Rows as a JSON array (msgspec: C speed, times as RFC 3339); a naive time is refused, never guessed."""
    _aware(rows, what)
    return msgspec.json.encode([{name: row[name] for name, _ in names} for row in rows]).decode()


def save_params(
    payment_id: Any,
    version: int,
    changes: dict[str, Any],
    history: Sequence[dict[str, Any]],
    attempts: Sequence[dict[str, Any]],
    events: Sequence[dict[str, Any]],
    entry: dict[str, Any] | None,
    postings: Sequence[dict[str, Any]],
) -> dict[str, Any]:
    """The parameters of ``save_sql(tuple(changes), bool(history), bool(attempts), len(events), entry is not None)``,
    as psycopg takes them (``execute_save`` passes them on as they are).

    Rows of a table travel as one JSON document (``h``, ``a``, ``l``): psycopg dumps a list
    parameter element by element in Python, which cost 10% of the worker's CPU (py-spy). The rest
    stay one parameter each: as JSON documents too they cost PostgreSQL more than they saved (ADR 0025).
    """
    _aware((changes,), "payments")
    params: dict[str, Any] = {"b_id": payment_id, "b_version": version}
    params |= {f"u_{name}": value for name, value in changes.items()}
    if isinstance(action := params.get("u_next_action"), dict):
        params["u_next_action"] = Jsonb(action)
    if history:
        params["h"] = _document(history, _HISTORY, "payment_history")
    if attempts:
        params["a"] = _document(attempts, _ATTEMPTS, "rail_attempts")
    for i, event in enumerate(events):
        _aware((event,), "webhook_events")
        params |= {f"e{i}_{name}": event[name] for name in ("id", "client_id", "type", "created_at", "payload")}
        params[f"e{i}_pattern"] = event["pattern"]
    if entry is not None:
        _aware((entry,), "ledger_entries")
        params |= {f"j_{name}": entry[name] for name in ("id", "kind", "ref_entry_id", "posted_at", "description")}
        params["l"] = _document(postings, _POSTINGS, "ledger_postings")
    return params


def execute_save(db: GuardedConnection, sql: str, params: dict[str, Any], stale: DomainError) -> bool:
    """Run ``save_sql`` on the unit of work's psycopg connection; True if the version matched.

    ``stale``: raised if a lock wait times out (another transaction is changing this payment now).
    ``save_params`` made the values psycopg's own already: no second pass over them here.
    """
    with db.driver(stale) as raw:
        row = db.cursor(raw).execute(sql, params, prepare=True).fetchone()
    return row is not None and row[0] == 1


# --- loading, the claim's read ---------------------------------------------------------------------

_HISTORY_READ = ("seq", "from_status", "to_status", "at", "reason", "attempt")
_ATTEMPT_READ = ("number", "action", "outcome", "code", "reason", "started_at", "finished_at")


def _aggregate(table: str, names: Sequence[str], order: str) -> str:
    values = ", ".join(names)
    return (
        f"(SELECT coalesce(json_agg(json_build_array({values}) ORDER BY {order})::text, '[]') "  # noqa: S608 (constants)
        f"FROM {table} WHERE payment_id = p.id)"
    )


@functools.cache
def load_sql(owned: bool) -> str:
    """The payment row with its history and attempts as JSON arrays: one round trip instead of three."""
    where = "p.id = %(b_id)s" + (" AND p.client_id = %(b_client)s" if owned else "")
    history = _aggregate("payment_history", _HISTORY_READ, "seq")
    attempts = _aggregate("rail_attempts", _ATTEMPT_READ, "number")
    return f"SELECT p.*, {history} AS _history, {attempts} AS _attempts FROM payments p WHERE {where}"  # noqa: S608


_decode = msgspec.json.Decoder(list[list[Any]]).decode


def _utc(value: Any) -> Any:
    return value.astimezone(UTC) if isinstance(value, datetime) else value


def _time(text: str | None) -> datetime | None:
    return datetime.fromisoformat(text).astimezone(UTC) if text is not None else None


def loaded_rows(row: dict[str, Any]) -> tuple[dict[str, Any], list[dict[str, Any]], list[dict[str, Any]]]:
    """``load_sql``'s row as ``mapping.payment_from_row`` takes it: times aware UTC, as ``UtcDateTime`` reads."""
    # the arrays arrive as text, decoded by msgspec: psycopg's json loader is the standard library's
    history = [dict(zip(_HISTORY_READ, values, strict=True)) for values in _decode(row.pop("_history"))]
    attempts = [dict(zip(_ATTEMPT_READ, values, strict=True)) for values in _decode(row.pop("_attempts"))]
    for change in history:
        change["at"] = _time(change["at"])
    for attempt in attempts:
        attempt["started_at"], attempt["finished_at"] = _time(attempt["started_at"]), _time(attempt["finished_at"])
    return {name: _utc(value) for name, value in row.items()}, history, attempts


def fetch_one(db: GuardedConnection, sql: str, params: dict[str, Any]) -> dict[str, Any] | None:
    """Run a query on the unit of work's psycopg connection; its first row by column name, or None."""
    with db.driver() as raw, raw.cursor(row_factory=dict_row) as cursor:
        return cursor.execute(sql, params, prepare=True).fetchone()
