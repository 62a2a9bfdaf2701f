"""The columns the chain reads of each source record, and the facts built from them (both backends)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy import ColumnElement, Label, bindparam, literal_column, select

from flosspay.adapters.persistence.connection import GuardedConnection
from flosspay.adapters.persistence.tables import ledger_entries as entries
from flosspay.adapters.persistence.tables import ledger_postings as postings
from flosspay.adapters.persistence.tables import payment_history as history
from flosspay.adapters.persistence.tables import payments, refunds
from flosspay.adapters.persistence.tables import refund_history as refund_history
from flosspay.domain.chain import ENTRY, HISTORY, REFUND_HISTORY, EntryFacts, HistoryFacts, RefundHistoryFacts

# Each list holds its facts' fields in the order of their dataclass (so a row's first values build them
# positionally), then the parent row's id, which is None when the source rows are gone (``read``).
HISTORY_COLUMNS: list[Label[Any]] = [
    history.c.payment_id.label("h_payment_id"),
    history.c.seq.label("h_seq"),
    history.c.from_status.label("h_from"),
    history.c.to_status.label("h_to"),
    history.c.attempt.label("h_attempt"),
    history.c.at.label("h_at"),
    payments.c.flow.label("p_flow"),
    payments.c.currency.label("p_currency"),
    payments.c.amount_minor.label("p_amount"),
    payments.c.client_id.label("p_client"),
    payments.c.rail.label("p_rail"),
    history.c.reason.label("h_reason"),
    payments.c.id.label("p_id"),
]
REFUND_HISTORY_COLUMNS: list[Label[Any]] = [
    refund_history.c.refund_id.label("rh_refund_id"),
    refund_history.c.seq.label("rh_seq"),
    refund_history.c.from_status.label("rh_from"),
    refund_history.c.to_status.label("rh_to"),
    refund_history.c.attempt.label("rh_attempt"),
    refund_history.c.at.label("rh_at"),
    refunds.c.payment_id.label("r_payment_id"),
    refunds.c.currency.label("r_currency"),
    refunds.c.amount_minor.label("r_amount"),
    refunds.c.client_id.label("r_client"),
    refund_history.c.reason.label("rh_reason"),
    refunds.c.id.label("r_id"),
]
ENTRY_COLUMNS: list[Label[Any]] = [
    entries.c.id.label("e_id"),
    entries.c.kind.label("e_kind"),
    entries.c.payment_id.label("e_payment_id"),
    entries.c.ref_entry_id.label("e_ref"),
    entries.c.posted_at.label("e_posted_at"),
    entries.c.description.label("e_description"),
]
HISTORY_FIELDS = len(HISTORY_COLUMNS) - 1
REFUND_HISTORY_FIELDS = len(REFUND_HISTORY_COLUMNS) - 1
ENTRY_FIELDS = len(ENTRY_COLUMNS)

_POSTINGS = (
    select(postings.c.entry_id, postings.c.account, postings.c.currency, postings.c.amount_minor)
    .where(postings.c.entry_id.in_(bindparam("b_ids", expanding=True)))
    .order_by(postings.c.entry_id, postings.c.line)
)

Lines = dict[uuid.UUID, list[tuple[str, str, int]]]


def is_kind(kind: ColumnElement[str], name: str) -> ColumnElement[bool]:
    return kind == literal_column(f"'{name}'")


def is_history(kind: ColumnElement[str]) -> ColumnElement[bool]:
    return is_kind(kind, HISTORY)


def is_refund_history(kind: ColumnElement[str]) -> ColumnElement[bool]:
    return is_kind(kind, REFUND_HISTORY)


def is_entry(kind: ColumnElement[str]) -> ColumnElement[bool]:
    return is_kind(kind, ENTRY)


def history_facts(values: Sequence[Any]) -> HistoryFacts:
    """The facts of a row that starts with ``HISTORY_COLUMNS``."""
    return HistoryFacts(*values[:HISTORY_FIELDS])


def refund_history_facts(values: Sequence[Any]) -> RefundHistoryFacts:
    """The facts of a row that starts with ``REFUND_HISTORY_COLUMNS``."""
    return RefundHistoryFacts(*values[:REFUND_HISTORY_FIELDS])


def entry_facts(values: Sequence[Any], lines: Sequence[tuple[str, str, int]]) -> EntryFacts:
    """The facts of a row that starts with ``ENTRY_COLUMNS``, with the entry's postings."""
    entry_id, kind, payment_id, ref_entry_id, posted_at, description = values[:ENTRY_FIELDS]
    return EntryFacts(entry_id, kind, payment_id, ref_entry_id, posted_at, tuple(lines), description)


def postings_of(db: GuardedConnection, entry_ids: list[uuid.UUID]) -> Lines:
    """Each entry's postings ``(account, currency, amount)`` in line order."""
    lines: Lines = {}
    if not entry_ids:
        return lines
    rows: Sequence[Any] = db.execute(_POSTINGS, {"b_ids": entry_ids}).all()
    for entry_id, account, currency, amount in rows:
        lines.setdefault(entry_id, []).append((account, currency, amount))
    return lines
