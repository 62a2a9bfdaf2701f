"""Dead letters: a payment FlossPay gave up on waits, parked, for an operator's requeue.

``parked_at``/``parked_reason`` mark it (the stalled sweep and start-up recovery skip it);
``attempt_floor`` is where a requeued payment's fresh attempt budget starts.

Revision ID: 0004
Revises: 0002
Create Date: 2026-12-01
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | Sequence[str] | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

Time = sa.DateTime(timezone=True)


def upgrade() -> None:
    with op.batch_alter_table("payments") as batch:
        batch.add_column(sa.Column("parked_at", Time))
        batch.add_column(sa.Column("parked_reason", sa.Text()))
        batch.add_column(sa.Column("attempt_floor", sa.Integer(), nullable=False, server_default=sa.text("0")))
    op.create_index(
        "ix_payments_parked",
        "payments",
        ["parked_at"],
        postgresql_where=sa.text("parked_at IS NOT NULL"),
        sqlite_where=sa.text("parked_at IS NOT NULL"),
    )


def downgrade() -> None:
    op.drop_index("ix_payments_parked", table_name="payments")
    with op.batch_alter_table("payments") as batch:
        batch.drop_column("attempt_floor")
        batch.drop_column("parked_reason")
        batch.drop_column("parked_at")
