"""Secrets at rest: API client secrets sealed with AES-GCM, the key id beside each, an overlap secret.

Existing plain-text secrets are sealed here, under the secret key the process runs with (the one
``migrate.upgrade`` is given, else ``FLOSSPAY_SECRET_KEY`` or the data dir's ``secret.key``). The
key is only looked for when there are rows to seal, so an empty database needs none.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-01
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import context, op

revision: str = "0003"
down_revision: str | Sequence[str] | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

Time = sa.DateTime(timezone=True)


def _box():  # type: ignore[no-untyped-def]
    given = context.config.attributes.get("secret_box")
    if given is not None:
        return given
    from flosspay.adapters.config import load_settings
    from flosspay.adapters.container import secret_box_for

    return secret_box_for(load_settings())


def upgrade() -> None:
    with op.batch_alter_table("api_clients") as batch:
        batch.alter_column("secret", type_=sa.String(255), existing_type=sa.String(128), existing_nullable=False)
        batch.add_column(sa.Column("secret_key_id", sa.String(32), nullable=True))
        batch.add_column(sa.Column("previous_secret", sa.String(255), nullable=True))
        batch.add_column(sa.Column("previous_secret_key_id", sa.String(32), nullable=True))
        batch.add_column(sa.Column("previous_secret_expires_at", Time, nullable=True))

    clients = sa.table(
        "api_clients",
        sa.column("client_id", sa.String()),
        sa.column("secret", sa.String()),
        sa.column("secret_key_id", sa.String()),
    )
    bind = op.get_bind()
    rows = bind.execute(sa.select(clients.c.client_id, clients.c.secret).where(clients.c.secret_key_id.is_(None)))
    plain = rows.all()
    if plain:
        box = _box()  # type: ignore[no-untyped-call]
        for client_id, secret in plain:
            key_id, sealed = box.seal(secret, f"api_clients.secret:{client_id}")
            bind.execute(
                clients.update().where(clients.c.client_id == client_id).values(secret=sealed, secret_key_id=key_id)
            )
    with op.batch_alter_table("api_clients") as batch:
        batch.alter_column("secret_key_id", existing_type=sa.String(32), nullable=False)


def downgrade() -> None:
    raise NotImplementedError("secrets are not decrypted back into the database")
