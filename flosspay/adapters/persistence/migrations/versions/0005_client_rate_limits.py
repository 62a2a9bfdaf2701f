"""Per-client rate limits: each API client's token bucket (requests per second and burst).

Existing clients get the defaults, 100 requests/s with a burst of 200.

Revision ID: 0005
Revises: 0002
Create Date: 2026-12-01
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | Sequence[str] | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("api_clients") as batch:
        batch.add_column(sa.Column("rate_per_second", sa.Float(), nullable=False, server_default=sa.text("100")))
        batch.add_column(sa.Column("burst", sa.Integer(), nullable=False, server_default=sa.text("200")))


def downgrade() -> None:
    with op.batch_alter_table("api_clients") as batch:
        batch.drop_column("burst")
        batch.drop_column("rate_per_second")
