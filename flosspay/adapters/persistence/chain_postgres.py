"""PostgreSQL: the committed records waiting to be chained, found by the writing transaction's id.

History rows (of payments and of refunds) and entries carry ``tx``. Rows whose ``tx`` is below the
horizon (``horizon``: the oldest transaction still running in this database) belong to transactions
that have all ended, so no row can still appear before them; they are chained in ``(tx, kind, key)``
order (payment history, then refund history, then entries, within one transaction) after the newest
link of their kind.
"""

from __future__ import annotations

import functools
import uuid
from operator import itemgetter
from typing import Any

from sqlalchemy import BigInteger, Dialect, Executable, Integer, Select, Uuid, bindparam, select, text, tuple_
from sqlalchemy.sql.elements import ClauseElement

from flosspay.adapters.persistence.chain_rows import (
    ENTRY_COLUMNS,
    HISTORY_COLUMNS,
    REFUND_HISTORY_COLUMNS,
    Lines,
    entry_facts,
    history_facts,
    refund_history_facts,
)
from flosspay.adapters.persistence.connection import GuardedConnection
from flosspay.adapters.persistence.tables import ledger_entries as entries
from flosspay.adapters.persistence.tables import payment_history as history
from flosspay.adapters.persistence.tables import payments, refunds
from flosspay.adapters.persistence.tables import refund_history as refund_history
from flosspay.domain.chain import Pending

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
# pg_stat_activity is cached per transaction: cleared here, so the next statement reads it afresh.
_SELECT_SNAPSHOT = "SELECT pg_current_snapshot()::text, pg_stat_clear_snapshot()::text"
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
    snapshot = fetch(db, _SELECT_SNAPSHOT, {})[0][0]
    return int(fetch(db, compiled(_SELECT_HORIZON, db.engine.dialect), {"snapshot": snapshot})[0][0])


_XMIN = bindparam("b_xmin", type_=BigInteger())
_CURSOR_TX = bindparam("c_tx", type_=BigInteger())
_MAX_TX = bindparam("b_max_tx", type_=BigInteger())
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

# Where the newest link of each kind left off (``(tx, key, seq)``, before everything if none), and whether
# any committed row at all lies past one of them: in one statement, so an idle pass costs no more (a
# record past a cursor is not always chainable yet, the horizon decides; one before none is ever pending).
# Each probe is the first row in its index's order (ORDER BY … LIMIT 1, not EXISTS, which the planner
# answered with a sequential scan): one index descent however long the table.
_CURSORS = """
WITH h AS (
    SELECT source_pos, payment_id, history_seq FROM ledger_chain
    WHERE kind = 'history' ORDER BY seq DESC LIMIT 1
), r AS (
    SELECT source_pos, refund_id, history_seq FROM ledger_chain
    WHERE kind = 'refund_history' ORDER BY seq DESC LIMIT 1
), e AS (
    SELECT source_pos, entry_id FROM ledger_chain
    WHERE kind = 'entry' ORDER BY seq DESC LIMIT 1
), c AS (
    SELECT
        coalesce((SELECT source_pos FROM h), -1) AS h_tx,
        coalesce((SELECT payment_id FROM h), '00000000-0000-0000-0000-000000000000'::uuid) AS h_key,
        coalesce((SELECT history_seq FROM h), -1) AS h_seq,
        coalesce((SELECT source_pos FROM r), -1) AS r_tx,
        coalesce((SELECT refund_id FROM r), '00000000-0000-0000-0000-000000000000'::uuid) AS r_key,
        coalesce((SELECT history_seq FROM r), -1) AS r_seq,
        coalesce((SELECT source_pos FROM e), -1) AS e_tx,
        coalesce((SELECT entry_id FROM e), '00000000-0000-0000-0000-000000000000'::uuid) AS e_key
)
SELECT c.*, (
    SELECT x.tx FROM payment_history AS x
    WHERE x.tx IS NOT NULL AND x.tx >= c.h_tx AND (x.tx, x.payment_id, x.seq) > (c.h_tx, c.h_key, c.h_seq)
    ORDER BY x.tx, x.payment_id, x.seq LIMIT 1
) IS NOT NULL OR (
    SELECT x.tx FROM refund_history AS x
    WHERE x.tx IS NOT NULL AND x.tx >= c.r_tx AND (x.tx, x.refund_id, x.seq) > (c.r_tx, c.r_key, c.r_seq)
    ORDER BY x.tx, x.refund_id, x.seq LIMIT 1
) IS NOT NULL OR (
    SELECT x.tx FROM ledger_entries AS x
    WHERE x.tx IS NOT NULL AND x.tx >= c.e_tx AND (x.tx, x.id) > (c.e_tx, c.e_key)
    ORDER BY x.tx, x.id LIMIT 1
) IS NOT NULL
FROM c
"""
_POSTINGS = """
SELECT entry_id, account, currency, amount_minor FROM ledger_postings
WHERE entry_id = ANY(%(ids)s) ORDER BY entry_id, line
"""


def try_lock(db: GuardedConnection) -> bool:
    return bool(fetch(db, "SELECT pg_try_advisory_xact_lock(%(key)s)", {"key": CHAINER_LOCK})[0][0])


@functools.cache
def compiled(query: Executable, dialect: Dialect) -> str:
    """``query`` as psycopg SQL text, compiled once, to run on the driver (``fetch``)."""
    assert isinstance(query, ClauseElement)
    return str(query.compile(dialect=dialect))


def fetch(db: GuardedConnection, sql: str, params: dict[str, Any]) -> list[tuple[Any, ...]]:
    """Run a query on the unit of work's psycopg connection: its rows as plain tuples.

    The chainer's queries return a row per record; SQLAlchemy's result processing of each row (its
    columns' types, ``UtcDateTime``) cost more than hashing the record. psycopg already gives aware
    datetimes, UUIDs, ints and bytes, and the chain formats times in UTC whatever their zone.
    """
    with db.driver() as raw, raw.cursor(binary=True) as cursor:
        return cursor.execute(sql, params, prepare=True).fetchall()


def postings_of(db: GuardedConnection, entry_ids: list[uuid.UUID]) -> Lines:
    """Each entry's postings ``(account, currency, amount)`` in line order: one statement however many."""
    lines: Lines = {}
    if not entry_ids:
        return lines
    for entry_id, account, currency, amount in fetch(db, _POSTINGS, {"ids": entry_ids}):
        if entry_id in lines:
            lines[entry_id].append((account, currency, amount))
        else:
            lines[entry_id] = [(account, currency, amount)]
    return lines


def pending(db: GuardedConnection, limit: int) -> list[Pending]:
    h_tx, h_key, h_seq, r_tx, r_key, r_seq, e_tx, e_key, anything = fetch(db, _CURSORS, {})[0]
    if not anything:
        return []  # nothing past the cursors: no need to read the horizon
    dialect = db.engine.dialect
    history_sql, refund_sql = compiled(_PENDING_HISTORY, dialect), compiled(_PENDING_REFUND_HISTORY, dialect)
    entries_sql = compiled(_PENDING_ENTRIES, dialect)
    common = {"b_limit": limit, "b_xmin": horizon(db)}
    history_rows = fetch(db, history_sql, common | {"c_tx": h_tx, "c_key": h_key, "c_seq": h_seq})
    # A full batch ends at some transaction: the other kinds' rows after it cannot make the cut.
    bound = history_rows[-1][-1] if len(history_rows) == limit else _UNBOUNDED
    params = common | {"b_max_tx": bound}
    refund_rows = fetch(db, refund_sql, params | {"c_tx": r_tx, "c_key": r_key, "c_seq": r_seq})
    if len(refund_rows) == limit:
        params["b_max_tx"] = min(bound, refund_rows[-1][-1])
    entry_rows = fetch(db, entries_sql, params | {"c_tx": e_tx, "c_key": e_key})
    # The same order on every pass: by transaction, payment history, refund history, entries, then by key.
    # Each query returns its rows in (tx, key, seq) order already and the sort is stable, so ranking by
    # transaction and kind alone keeps that order within them (and compares no UUIDs in Python).
    keyed = [(row[-1] * 3, row) for row in history_rows]
    keyed += [(row[-1] * 3 + 1, row) for row in refund_rows]
    keyed += [(row[-1] * 3 + 2, row) for row in entry_rows]
    keyed.sort(key=itemgetter(0))
    chosen = keyed[:limit]
    lines = postings_of(db, [row[0] for rank, row in chosen if rank % 3 == 2])
    found: list[Pending] = []
    for rank, row in chosen:
        kind = rank % 3
        if kind == 0:
            found.append(Pending(history_facts(row), row[-1]))
        elif kind == 1:
            found.append(Pending(refund_history_facts(row), row[-1]))
        else:
            found.append(Pending(entry_facts(row, lines.get(row[0], ())), row[-1]))
    return found
