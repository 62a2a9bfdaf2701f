"""The columns the chain reads of each source record, and the facts built from them (both backends)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy import ColumnElement, Label, RowMapping, bindparam, literal_column, select

from flosspay.adapters.persistence.connection import GuardedConnection
from flosspay.adapters.persistence.tables import ledger_entries as entries
from flosspay.adapters.persistence.tables import ledger_postings as postings
from flosspay.adapters.persistence.tables import payment_history as history
from flosspay.adapters.persistence.tables import payments, refunds
from flosspay.adapters.persistence.tables import refund_history as refund_history
from flosspay.domain.chain import ENTRY, HISTORY, REFUND_HISTORY, EntryFacts, HistoryFacts, RefundHistoryFacts

HISTORY_COLUMNS: list[Label[Any]] = [
    history.c.payment_id.label("h_payment_id"),
    history.c.seq.label("h_seq"),
    history.c.from_status.label("h_from"),
    history.c.to_status.label("h_to"),
    history.c.attempt.label("h_attempt"),
    history.c.at.label("h_at"),
    history.c.reason.label("h_reason"),
    payments.c.id.label("p_id"),
    payments.c.flow.label("p_flow"),
    payments.c.currency.label("p_currency"),
    payments.c.amount_minor.label("p_amount"),
    payments.c.client_id.label("p_client"),
    payments.c.rail.label("p_rail"),
]
REFUND_HISTORY_COLUMNS: list[Label[Any]] = [
    refund_history.c.refund_id.label("rh_refund_id"),
    refund_history.c.seq.label("rh_seq"),
    refund_history.c.from_status.label("rh_from"),
    refund_history.c.to_status.label("rh_to"),
    refund_history.c.attempt.label("rh_attempt"),
    refund_history.c.at.label("rh_at"),
    refund_history.c.reason.label("rh_reason"),
    refunds.c.id.label("r_id"),
    refunds.c.payment_id.label("r_payment_id"),
    refunds.c.currency.label("r_currency"),
    refunds.c.amount_minor.label("r_amount"),
    refunds.c.client_id.label("r_client"),
]
ENTRY_COLUMNS: list[Label[Any]] = [
    entries.c.id.label("e_id"),
    entries.c.kind.label("e_kind"),
    entries.c.payment_id.label("e_payment_id"),
    entries.c.ref_entry_id.label("e_ref"),
    entries.c.posted_at.label("e_posted_at"),
    entries.c.description.label("e_description"),
]

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


def history_facts(row: RowMapping) -> HistoryFacts:
    return HistoryFacts(
        payment_id=row["h_payment_id"],
        index=row["h_seq"],
        from_status=row["h_from"],
        to_status=row["h_to"],
        attempt=row["h_attempt"],
        at=row["h_at"],
        flow=row["p_flow"],
        currency=row["p_currency"],
        amount=row["p_amount"],
        client_id=row["p_client"],
        rail=row["p_rail"],
        reason=row["h_reason"],
    )


def refund_history_facts(row: RowMapping) -> RefundHistoryFacts:
    return RefundHistoryFacts(
        refund_id=row["rh_refund_id"],
        index=row["rh_seq"],
        from_status=row["rh_from"],
        to_status=row["rh_to"],
        attempt=row["rh_attempt"],
        at=row["rh_at"],
        payment_id=row["r_payment_id"],
        currency=row["r_currency"],
        amount=row["r_amount"],
        client_id=row["r_client"],
        reason=row["rh_reason"],
    )


def entry_facts(row: RowMapping, lines: list[tuple[str, str, int]]) -> EntryFacts:
    return EntryFacts(
        entry_id=row["e_id"],
        entry_kind=row["e_kind"],
        payment_id=row["e_payment_id"],
        ref_entry_id=row["e_ref"],
        posted_at=row["e_posted_at"],
        postings=tuple(lines),
        description=row["e_description"],
    )


def postings_of(db: GuardedConnection, entry_ids: list[uuid.UUID]) -> Lines:
    """Each entry's postings ``(account, currency, amount)`` in line order."""
    lines: Lines = {}
    if not entry_ids:
        return lines
    rows: Sequence[Any] = db.execute(_POSTINGS, {"b_ids": entry_ids}).all()
    for entry_id, account, currency, amount in rows:
        lines.setdefault(entry_id, []).append((account, currency, amount))
    return lines
