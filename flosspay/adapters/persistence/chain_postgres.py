"""PostgreSQL: the committed records waiting to be chained, found by the writing transaction's id.

History rows (of payments and of refunds) and entries carry ``tx``. Rows whose ``tx`` is below the
horizon (``horizon``: the oldest transaction still running in this database) belong to transactions
that have all ended, so no row can still appear before them; they are chained in ``(tx, kind, key)``
order (payment history, then refund history, then entries, within one transaction) after the newest
link of their kind.
"""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import BigInteger, Integer, RowMapping, Select, Uuid, bindparam, select, text, tuple_

from flosspay.adapters.persistence.chain_rows import (
    ENTRY_COLUMNS,
    HISTORY_COLUMNS,
    REFUND_HISTORY_COLUMNS,
    entry_facts,
    history_facts,
    postings_of,
    refund_history_facts,
)
from flosspay.adapters.persistence.connection import GuardedConnection
from flosspay.adapters.persistence.tables import ledger_chain as chain
from flosspay.adapters.persistence.tables import ledger_entries as entries
from flosspay.adapters.persistence.tables import payment_history as history
from flosspay.adapters.persistence.tables import payments, refunds
from flosspay.adapters.persistence.tables import refund_history as refund_history
from flosspay.domain.chain import ENTRY, HISTORY, REFUND_HISTORY, Pending

# Any fixed number, distinct from the migration lock: one chainer at a time across processes.
CHAINER_LOCK = 7_413_205_282

# The horizon, read once per pass and bound into every query (in READ COMMITTED each statement has its
# own snapshot, and a transaction that ended between two of them would otherwise have its entry chained
# while its history rows, read first, were still left for later): every row below it was written by a
# transaction that has ended. The snapshot's xmin would do, but it is cluster-wide: one long writing
# transaction in any other database of the server (another application, a CREATE DATABASE) would stall
# the chain. Only transactions connected to this database can write its tables, so the horizon is the
# oldest of the snapshot's in-progress transactions that runs here (else its xmax). Read in two
# statements, the snapshot first: a transaction that started after it has a larger id anyway, and one
# that ended before the second read is committed for the queries that follow. Backends whose details
# this role may not see fall back to the cluster-wide xmin.
_SELECT_SNAPSHOT = text("SELECT pg_current_snapshot()::text")
_CLEAR_STATS = text("SELECT pg_stat_clear_snapshot()")  # pg_stat_activity is cached per transaction
_SELECT_HORIZON = text(
    """
    WITH here AS (
        SELECT backend_xid::text::bigint AS xid, query FROM pg_stat_activity WHERE datname = current_database()
        UNION ALL
        SELECT transaction::text::bigint, NULL FROM pg_prepared_xacts WHERE database = current_database()
    )
    SELECT CASE
        WHEN EXISTS (SELECT 1 FROM here WHERE query = '<insufficient privilege>')
            THEN pg_snapshot_xmin(snap.s)::text::bigint
        ELSE least(
            pg_snapshot_xmax(snap.s)::text::bigint,
            (
                SELECT min(x::text::bigint) FROM pg_snapshot_xip(snap.s) AS x
                WHERE x::text::bigint % 4294967296 IN (SELECT xid FROM here WHERE xid IS NOT NULL)
            )
        )
    END
    FROM (SELECT CAST(:snapshot AS pg_snapshot) AS s) AS snap
    """
)


def horizon(db: GuardedConnection) -> int:
    """Every chained row's ``tx`` is below this: the transactions that wrote them have all ended."""
    snapshot = db.execute(_SELECT_SNAPSHOT).scalar_one()
    db.execute(_CLEAR_STATS)
    return int(db.execute(_SELECT_HORIZON, {"snapshot": snapshot}).scalar_one())


_XMIN = bindparam("b_xmin", type_=BigInteger())
_CURSOR_TX = bindparam("c_tx", type_=BigInteger())
_MAX_TX = bindparam("b_max_tx", type_=BigInteger())
_NO_UUID = uuid.UUID(int=0)
_UNBOUNDED = 2**62


def _pending_history() -> Select[Any]:
    return (
        select(*HISTORY_COLUMNS, history.c.tx.label("pos"))
        .select_from(history.join(payments, payments.c.id == history.c.payment_id))
        .where(
            history.c.tx.is_not(None),
            history.c.tx >= _CURSOR_TX,
            history.c.tx < _XMIN,
            tuple_(history.c.tx, history.c.payment_id, history.c.seq)
            > tuple_(_CURSOR_TX, bindparam("c_key", type_=Uuid()), bindparam("c_seq", type_=Integer())),
        )
        .order_by(history.c.tx, history.c.payment_id, history.c.seq)
        .limit(bindparam("b_limit"))
    )


def _pending_refund_history() -> Select[Any]:
    return (
        select(*REFUND_HISTORY_COLUMNS, refund_history.c.tx.label("pos"))
        .select_from(refund_history.join(refunds, refunds.c.id == refund_history.c.refund_id))
        .where(
            refund_history.c.tx.is_not(None),
            refund_history.c.tx >= _CURSOR_TX,
            refund_history.c.tx <= _MAX_TX,
            refund_history.c.tx < _XMIN,
            tuple_(refund_history.c.tx, refund_history.c.refund_id, refund_history.c.seq)
            > tuple_(_CURSOR_TX, bindparam("c_key", type_=Uuid()), bindparam("c_seq", type_=Integer())),
        )
        .order_by(refund_history.c.tx, refund_history.c.refund_id, refund_history.c.seq)
        .limit(bindparam("b_limit"))
    )


def _pending_entries() -> Select[Any]:
    return (
        select(*ENTRY_COLUMNS, entries.c.tx.label("pos"))
        .where(
            entries.c.tx.is_not(None),
            entries.c.tx >= _CURSOR_TX,
            entries.c.tx <= _MAX_TX,
            entries.c.tx < _XMIN,
            tuple_(entries.c.tx, entries.c.id) > tuple_(_CURSOR_TX, bindparam("c_key", type_=Uuid())),
        )
        .order_by(entries.c.tx, entries.c.id)
        .limit(bindparam("b_limit"))
    )


_PENDING_HISTORY = _pending_history()
_PENDING_REFUND_HISTORY = _pending_refund_history()
_PENDING_ENTRIES = _pending_entries()
_LAST_OF_KIND = (
    select(chain.c.source_pos, chain.c.payment_id, chain.c.refund_id, chain.c.history_seq, chain.c.entry_id)
    .where(chain.c.kind == bindparam("b_kind"))
    .order_by(chain.c.seq.desc())
    .limit(1)
)


def try_lock(db: GuardedConnection) -> bool:
    return bool(db.execute(text("SELECT pg_try_advisory_xact_lock(:key)"), {"key": CHAINER_LOCK}).scalar())


def _cursor(db: GuardedConnection, kind: str) -> dict[str, Any]:
    """Where the newest link of ``kind`` left off: ``(tx, key, seq)``, before everything if none."""
    last = db.execute(_LAST_OF_KIND, {"b_kind": kind}).first()
    if last is None:
        return {"c_tx": -1, "c_key": _NO_UUID, "c_seq": -1}
    key = {HISTORY: last.payment_id, REFUND_HISTORY: last.refund_id, ENTRY: last.entry_id}[kind]
    return {"c_tx": last.source_pos, "c_key": key, "c_seq": last.history_seq if last.history_seq is not None else -1}


def pending(db: GuardedConnection, limit: int) -> list[Pending]:
    common = {"b_limit": limit, "b_xmin": horizon(db)}
    history_rows = db.execute(_PENDING_HISTORY, common | _cursor(db, HISTORY)).mappings().all()
    # A full batch ends at some transaction: the other kinds' rows after it cannot make the cut.
    bound = history_rows[-1]["pos"] if len(history_rows) == limit else _UNBOUNDED
    params = common | {"b_max_tx": bound}
    refund_rows = db.execute(_PENDING_REFUND_HISTORY, params | _cursor(db, REFUND_HISTORY)).mappings().all()
    if len(refund_rows) == limit:
        params["b_max_tx"] = min(bound, refund_rows[-1]["pos"])
    entry_cursor = _cursor(db, ENTRY)
    del entry_cursor["c_seq"]
    entry_rows = db.execute(_PENDING_ENTRIES, params | entry_cursor).mappings().all()
    # The same order on every pass: by transaction, payment history, refund history, entries, then by key.
    keyed: list[tuple[tuple[Any, ...], RowMapping]] = [
        ((row["pos"], 0, row["h_payment_id"], row["h_seq"]), row) for row in history_rows
    ]
    keyed += [((row["pos"], 1, row["rh_refund_id"], row["rh_seq"]), row) for row in refund_rows]
    keyed += [((row["pos"], 2, row["e_id"], 0), row) for row in entry_rows]
    keyed.sort(key=lambda item: item[0])
    chosen = keyed[:limit]
    lines = postings_of(db, [row["e_id"] for key, row in chosen if key[1] == 2])
    found: list[Pending] = []
    for key, row in chosen:
        if key[1] == 0:
            found.append(Pending(history_facts(row), row["pos"]))
        elif key[1] == 1:
            found.append(Pending(refund_history_facts(row), row["pos"]))
        else:
            found.append(Pending(entry_facts(row, lines.get(row["e_id"], [])), row["pos"]))
    return found
