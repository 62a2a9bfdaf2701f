"""Is the database there? For the readiness endpoint: a cheap ping that never raises."""

from __future__ import annotations

import logging

from sqlalchemy import Engine, text

from flosspay.adapters.persistence.engine import READ_ONLY

logger = logging.getLogger(__name__)


def database_ok(engine: Engine) -> bool:
    """True when a pooled connection answers ``SELECT 1``."""
    try:
        with engine.connect().execution_options(**{READ_ONLY: True}) as connection:
            return connection.execute(text("SELECT 1")).scalar() == 1
    except Exception:  # any failure means "not ready"; the reason goes to the log
        logger.warning("database health check failed", exc_info=True)
        return False
