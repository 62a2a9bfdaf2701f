"""Journal entries and their postings in SQL; both tables are append-only (database triggers)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import sqlalchemy.exc
from sqlalchemy import RowMapping, bindparam, func, select

from flosspay.adapters.persistence.column_types import UtcDateTime
from flosspay.adapters.persistence.connection import GuardedConnection
from flosspay.adapters.persistence.tables import ledger_entries as entries
from flosspay.adapters.persistence.tables import ledger_postings as postings
from flosspay.adapters.persistence.tables import payments
from flosspay.domain.ledger import EntryKind, JournalEntry, LedgerError, Posting
from flosspay.domain.money import Money

_INSERT_ENTRY = entries.insert()
_INSERT_POSTINGS = postings.insert()
_SELECT_ENTRY = select(entries).where(entries.c.id == bindparam("b_id"))
_SELECT_REFERENCING = (
    select(entries).where(entries.c.ref_entry_id == bindparam("b_id")).order_by(entries.c.posted_at, entries.c.id)
)
_SELECT_POSTINGS = (
    select(postings)
    .where(postings.c.entry_id.in_(bindparam("b_ids", expanding=True)))
    .order_by(postings.c.entry_id, postings.c.line)
)
_SELECT_PAYMENT_ENTRY = select(entries.c.id).where(
    entries.c.payment_id == bindparam("b_payment"), entries.c.kind == EntryKind.PAYMENT.value
)
# A reversal closes the payment to refunds: the reservation the refund intake's guarded UPDATE
# checks (migration 0010) is set to the whole amount, unless refunds in flight hold more than the
# refund entries gave back.
_CLOSE_TO_REFUNDS = (
    payments.update()
    .where(payments.c.id == bindparam("b_payment"), payments.c.refund_reserved_minor == bindparam("b_refunded"))
    .values(refund_reserved_minor=payments.c.amount_minor)
)
_BALANCE = (
    select(postings.c.currency, func.sum(postings.c.amount_minor))
    .where(postings.c.account == bindparam("b_account"))
    .group_by(postings.c.currency)
)
_BALANCE_AS_OF = (
    select(postings.c.currency, func.sum(postings.c.amount_minor))
    .join(entries, entries.c.id == postings.c.entry_id)
    .where(
        postings.c.account == bindparam("b_account"),
        entries.c.posted_at <= bindparam("b_as_of", type_=UtcDateTime()),
    )
    .group_by(postings.c.currency)
)


def entry_row(entry: JournalEntry) -> dict[str, Any]:
    return {
        "id": entry.id,
        "kind": entry.kind.value,
        "payment_id": entry.payment_id,
        "ref_entry_id": entry.ref_entry_id,
        "posted_at": entry.posted_at,
        "description": entry.description,
    }


def posting_rows(entry: JournalEntry) -> list[dict[str, Any]]:
    return [
        {
            "entry_id": entry.id,
            "line": line,
            "account": posting.account,
            "currency": posting.amount.currency,
            "amount_minor": posting.amount.minor,
        }
        for line, posting in enumerate(entry.postings)
    ]


def entry_from_rows(row: RowMapping, lines: Sequence[RowMapping]) -> JournalEntry:
    return JournalEntry(
        id=row["id"],
        kind=EntryKind(row["kind"]),
        posted_at=row["posted_at"],
        description=row["description"],
        postings=tuple(Posting(p["account"], Money(p["amount_minor"], p["currency"])) for p in lines),
        payment_id=row["payment_id"],
        ref_entry_id=row["ref_entry_id"],
    )


def _is_second_reversal(exc: sqlalchemy.exc.IntegrityError) -> bool:
    """The insert broke ``uq_ledger_entries_reversal`` (PostgreSQL names it, SQLite names the column)."""
    diag = getattr(exc.orig, "diag", None)
    if diag is not None:
        return getattr(diag, "constraint_name", None) == "uq_ledger_entries_reversal"
    return "ledger_entries.ref_entry_id" in str(exc.orig)


class SqlLedgerRepository:
    def __init__(self, db: GuardedConnection) -> None:
        self._db = db

    def add(self, entry: JournalEntry) -> None:
        try:
            self._db.execute(_INSERT_ENTRY, entry_row(entry))
        except sqlalchemy.exc.IntegrityError as exc:
            if entry.kind is EntryKind.REVERSAL and _is_second_reversal(exc):
                # Two reversals raced past the use case's check; the unique index decided.
                raise LedgerError(f"journal entry {entry.ref_entry_id} is already reversed") from exc
            raise
        self._db.execute(_INSERT_POSTINGS, posting_rows(entry))

    def get(self, entry_id: uuid.UUID) -> JournalEntry | None:
        row = self._db.execute(_SELECT_ENTRY, {"b_id": entry_id}).mappings().first()
        if row is None:
            return None
        return self._with_postings([row])[0]

    def payment_entry_id(self, payment_id: uuid.UUID) -> uuid.UUID | None:
        found: uuid.UUID | None = self._db.execute(_SELECT_PAYMENT_ENTRY, {"b_payment": payment_id}).scalar()
        return found

    def entries_referencing(self, entry_id: uuid.UUID) -> list[JournalEntry]:
        rows = self._db.execute(_SELECT_REFERENCING, {"b_id": entry_id}).mappings().all()
        return self._with_postings(rows)

    def close_to_refunds(self, payment_id: uuid.UUID, refunded: int) -> bool:
        result = self._db.execute(_CLOSE_TO_REFUNDS, {"b_payment": payment_id, "b_refunded": refunded})
        return bool(result.rowcount == 1)

    def balance(self, account: str, as_of: datetime | None = None) -> dict[str, int]:
        if as_of is None:
            result = self._db.execute(_BALANCE, {"b_account": account})
        else:
            result = self._db.execute(_BALANCE_AS_OF, {"b_account": account, "b_as_of": as_of})
        rows: Sequence[Any] = result.all()
        return {str(row.currency): int(row[1]) for row in rows}

    def _with_postings(self, rows: Sequence[RowMapping]) -> list[JournalEntry]:
        if not rows:
            return []
        lines: dict[uuid.UUID, list[RowMapping]] = {row["id"]: [] for row in rows}
        for line in self._db.execute(_SELECT_POSTINGS, {"b_ids": list(lines)}).mappings():
            lines[line["entry_id"]].append(line)
        return [entry_from_rows(row, lines[row["id"]]) for row in rows]
