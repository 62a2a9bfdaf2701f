"""SQLite: the committed records waiting to be chained, in the queue triggers fill in commit order.

Writers are serialized, and triggers (migrations 0002 and 0011) queue each new payment history
row, refund history row and entry as it is inserted; the chainer takes the queue's head and
deletes what it chained.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import and_, bindparam, delete, select

from flosspay.adapters.persistence.chain_rows import (
    ENTRY_COLUMNS,
    HISTORY_COLUMNS,
    REFUND_HISTORY_COLUMNS,
    entry_facts,
    history_facts,
    is_entry,
    is_history,
    is_refund_history,
    postings_of,
    refund_history_facts,
)
from flosspay.adapters.persistence.connection import GuardedConnection
from flosspay.adapters.persistence.tables import ledger_chain_queue as queue
from flosspay.adapters.persistence.tables import ledger_entries as entries
from flosspay.adapters.persistence.tables import payment_history as history
from flosspay.adapters.persistence.tables import payments, refunds
from flosspay.adapters.persistence.tables import refund_history as refund_history
from flosspay.domain.chain import ENTRY, HISTORY, REFUND_HISTORY, Pending

_PENDING = (
    select(
        queue.c.id.label("pos"),
        queue.c.kind.label("kind"),
        *HISTORY_COLUMNS,
        *REFUND_HISTORY_COLUMNS,
        *ENTRY_COLUMNS,
    )
    .select_from(
        queue.outerjoin(
            history,
            and_(
                is_history(queue.c.kind),
                history.c.payment_id == queue.c.payment_id,
                history.c.seq == queue.c.history_seq,
            ),
        )
        .outerjoin(payments, payments.c.id == history.c.payment_id)
        .outerjoin(
            refund_history,
            and_(
                is_refund_history(queue.c.kind),
                refund_history.c.refund_id == queue.c.refund_id,
                refund_history.c.seq == queue.c.history_seq,
            ),
        )
        .outerjoin(refunds, refunds.c.id == refund_history.c.refund_id)
        .outerjoin(entries, and_(is_entry(queue.c.kind), entries.c.id == queue.c.entry_id))
    )
    .order_by(queue.c.id)
    .limit(bindparam("b_limit"))
)
_DEQUEUE = delete(queue).where(queue.c.id <= bindparam("b_upto"))


_HISTORY_AT = 2  # after pos and kind
_REFUND_HISTORY_AT = _HISTORY_AT + len(HISTORY_COLUMNS)
_ENTRY_AT = _REFUND_HISTORY_AT + len(REFUND_HISTORY_COLUMNS)


def pending(db: GuardedConnection, limit: int) -> list[Pending]:
    rows: Sequence[Sequence[Any]] = db.execute(_PENDING, {"b_limit": limit}).all()
    lines = postings_of(db, [row[_ENTRY_AT] for row in rows if row[_ENTRY_AT] is not None])
    found: list[Pending] = []
    for row in rows:
        pos, kind = row[0], row[1]
        if kind == HISTORY and row[_REFUND_HISTORY_AT - 1] is not None:  # the payment's id, last of its columns
            found.append(Pending(history_facts(row[_HISTORY_AT:]), pos))
        elif kind == REFUND_HISTORY and row[_ENTRY_AT - 1] is not None:  # the refund's id
            found.append(Pending(refund_history_facts(row[_REFUND_HISTORY_AT:]), pos))
        elif kind == ENTRY and row[_ENTRY_AT] is not None:
            found.append(Pending(entry_facts(row[_ENTRY_AT:], lines.get(row[_ENTRY_AT], ())), pos))
    return found


def dequeue(db: GuardedConnection, upto: int) -> None:
    """Remove what was chained (every queue row up to ``upto``)."""
    db.execute(_DEQUEUE, {"b_upto": upto})
