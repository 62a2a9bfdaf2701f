"""What is waiting in the database, for the metrics: the outbox's due rows and the unchained records.

Counts are exact and cheap while the backlog is small (the outbox's pending rows are few, and the
chain lag is the difference of three counts); they run once per scrape, not per request.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import Engine, func, select

from flosspay.adapters.persistence.tables import ledger_chain as chain_links
from flosspay.adapters.persistence.tables import ledger_entries as journal_entries
from flosspay.adapters.persistence.tables import outbox
from flosspay.adapters.persistence.tables import payment_history as history


def backlog(engine: Engine) -> dict[str, float]:
    now = datetime.now(UTC)
    due = outbox.c.dispatched_at.is_(None) & (outbox.c.available_at <= now)
    with engine.connect() as connection:
        count, oldest = connection.execute(select(func.count(), func.min(outbox.c.available_at)).where(due)).one()
        records = connection.execute(
            select(
                select(func.count()).select_from(history).scalar_subquery(),
                select(func.count()).select_from(journal_entries).scalar_subquery(),
                select(func.coalesce(func.max(chain_links.c.seq), 0)).scalar_subquery(),  # seq counts from 1
            )
        ).one()
    if oldest is not None and oldest.tzinfo is None:
        oldest = oldest.replace(tzinfo=UTC)
    age = max(0.0, (now - oldest).total_seconds()) if oldest is not None else 0.0
    return {
        "flosspay_outbox_backlog": float(count),
        "flosspay_outbox_oldest_age_seconds": age,
        "flosspay_chain_lag": float(max(0, records[0] + records[1] - records[2])),
    }
