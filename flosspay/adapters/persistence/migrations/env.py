"""Alembic environment: runs on the connection ``migrate.upgrade`` hands over (no alembic.ini needed).

Standalone use (``alembic -x url=...``) opens its own engine from ``-x url`` or FLOSSPAY_DATABASE_URL.
"""

from __future__ import annotations

import os

from alembic import context
from sqlalchemy.engine import Connection

from flosspay.adapters.persistence.engine import create_engine
from flosspay.adapters.persistence.tables import metadata

config = context.config


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=metadata,
        render_as_batch=connection.dialect.name == "sqlite",  # SQLite alters tables by copying them
    )
    with context.begin_transaction():
        context.run_migrations()


def _url() -> str:
    url = context.get_x_argument(as_dictionary=True).get("url") or os.environ.get("FLOSSPAY_DATABASE_URL")
    if not url:
        raise SystemExit("no database: pass -x url=... or set FLOSSPAY_DATABASE_URL")
    return url


if context.is_offline_mode():
    context.configure(url=_url(), target_metadata=metadata, literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()
elif (given := config.attributes.get("connection")) is not None:
    _run(given)
else:
    engine = create_engine(_url(), pool_size=1)
    try:
        with engine.begin() as opened:
            _run(opened)
    finally:
        engine.dispose()
