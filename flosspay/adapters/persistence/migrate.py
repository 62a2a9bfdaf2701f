"""Run the Alembic migrations from code, without an ``alembic.ini``: ``flosspay db upgrade`` calls this.

The migrations folder is found next to this module, so it works from a checkout and from an
installed wheel alike.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import sqlalchemy.exc
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Connection

from flosspay.adapters.persistence.engine import create_engine, parse_url
from flosspay.domain.errors import ServiceUnavailable

MIGRATIONS = Path(__file__).resolve().with_name("migrations")

# Any fixed number: PostgreSQL advisory lock that serializes concurrent `upgrade` runs (API + worker).
_MIGRATION_LOCK = 7_413_205_281


def alembic_config(connection: Connection | None = None, secret_box: object | None = None) -> Config:
    """An in-memory Alembic config pointing at the packaged migrations (and at ``connection``).

    ``secret_box`` seals existing client secrets (migration 0003); without it the migration reads
    the key from the environment, and only if there are secrets to seal.
    """
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection"] = connection
    config.attributes["secret_box"] = secret_box
    return config


def head() -> str:
    """The newest revision shipped with this version of FlossPay."""
    revision = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert revision is not None
    return revision


def upgrade(url: str, secret_box: object | None = None, revision: str = "head") -> list[str]:
    """Bring the database at ``url`` to the newest schema; a no-op when it is already there.

    Returns the migrations applied, oldest first, as ``"<revision> <what it does>"`` (empty: none).
    Raises ``ValueError`` for a bad URL and ``ServiceUnavailable`` when the database is unreachable.
    """
    applied: list[str] = []

    def action(connection: Connection) -> None:
        before = MigrationContext.configure(connection).get_current_revision()
        command.upgrade(alembic_config(connection, secret_box), revision)
        after = MigrationContext.configure(connection).get_current_revision()
        if after == before:
            return
        scripts = ScriptDirectory.from_config(alembic_config())
        for script in reversed(list(scripts.iterate_revisions(after, before))):
            what = (script.doc or "").strip().splitlines()[0] if script.doc else ""
            applied.append(f"{script.revision} {what}".strip())

    _run(url, action)
    return applied


def current(url: str) -> str | None:
    """The revision the database at ``url`` is at (None before the first upgrade)."""
    found: list[str | None] = []
    _run(url, lambda connection: found.append(MigrationContext.configure(connection).get_current_revision()))
    return found[0]


def _run(url: str, action: Callable[[Connection], object]) -> None:
    """Run ``action`` in one transaction, holding the migration lock on PostgreSQL."""
    parsed = parse_url(url)
    engine = create_engine(url, pool_size=1)
    try:
        with engine.begin() as connection:
            if connection.dialect.name == "postgresql":
                connection.exec_driver_sql(f"SELECT pg_advisory_xact_lock({_MIGRATION_LOCK})")
            action(connection)
    except (sqlalchemy.exc.OperationalError, sqlalchemy.exc.InterfaceError) as exc:
        where = parsed.render_as_string(hide_password=True)
        raise ServiceUnavailable(f"database unavailable at {where}") from exc
    finally:
        engine.dispose()
