"""The rail names its ledger accounts; a payment keeps them, and what its customer must do next.

``next_action`` holds a rail's ``NextAction`` (``{"type": "redirect", "url": ...}``) while an
ACTION_REQUIRED payment waits on its customer; NULL otherwise.

``payer_account`` and ``payee_account`` hold the accounts the rail named when the payment was
accepted (``PreparedPayment.payer_account``/``payee_account``). Payments accepted before this
revision get the names the core used to derive from the shipped rails' details, so their balances
and the entries still to be posted keep exactly the names already in the ledger. That derivation
is frozen here, as history: the running code no longer knows any rail's fields.

Revision ID: 0006
Revises: 0002
Create Date: 2026-12-01
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from urllib.parse import quote

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0006"
down_revision: str | Sequence[str] | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BATCH = 1000


def _account(*segments: str) -> str:
    return ":".join(quote(segment, safe="@._~-") for segment in segments)


def legacy_accounts(rail: str, client_id: str, payment_id: str, details: dict[str, Any]) -> tuple[str, str]:
    """The payer and payee names the core derived from details before 0006 (kept byte for byte)."""
    rail = rail.lower()
    sender, token = details.get("senderUpi"), details.get("pan_token")
    provider, wallet_id = details.get("provider"), details.get("wallet_id")
    if isinstance(sender, str) and sender:
        payer = _account(rail, "vpa", sender.lower())
    elif isinstance(token, str) and token:
        payer = _account(rail, "token", token)
    elif isinstance(provider, str) and provider and isinstance(wallet_id, str) and wallet_id:
        payer = _account(rail, provider.lower(), wallet_id)
    else:
        payer = _account(rail, "payer", payment_id)
    receiver = details.get("receiverUpi")
    if isinstance(receiver, str) and receiver:
        payee = _account(rail, "vpa", receiver.lower())
    else:
        payee = _account("merchant", client_id)
    return payer, payee


def upgrade() -> None:
    op.add_column("payments", sa.Column("payer_account", sa.String(255)))
    op.add_column("payments", sa.Column("payee_account", sa.String(255)))
    op.add_column("payments", sa.Column("next_action", sa.JSON().with_variant(postgresql.JSONB(), "postgresql")))
    payments = sa.table(
        "payments",
        sa.column("id", sa.Uuid()),
        sa.column("client_id", sa.String()),
        sa.column("rail", sa.String()),
        sa.column("details", sa.JSON()),
        sa.column("payer_account", sa.String()),
        sa.column("payee_account", sa.String()),
    )
    bind = op.get_bind()
    update = (
        payments.update()
        .where(payments.c.id == sa.bindparam("b_id"))
        .values(payer_account=sa.bindparam("b_payer"), payee_account=sa.bindparam("b_payee"))
    )
    last = None
    while True:
        query = sa.select(payments.c.id, payments.c.client_id, payments.c.rail, payments.c.details)
        if last is not None:
            query = query.where(payments.c.id > last)
        rows = bind.execute(query.order_by(payments.c.id).limit(BATCH)).all()
        if not rows:
            break
        params = []
        for row in rows:
            details = row.details if isinstance(row.details, dict) else {}
            payer, payee = legacy_accounts(row.rail, row.client_id, str(row.id), details)
            params.append({"b_id": row.id, "b_payer": payer, "b_payee": payee})
        bind.execute(update, params)
        last = rows[-1].id


def downgrade() -> None:
    with op.batch_alter_table("payments") as batch:
        batch.drop_column("next_action")
        batch.drop_column("payee_account")
        batch.drop_column("payer_account")
