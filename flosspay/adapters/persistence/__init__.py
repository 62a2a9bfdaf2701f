"""SQL persistence of the ports (SQLAlchemy 2 Core) for SQLite and PostgreSQL.

Entry points: ``create_engine(url)``, ``SqlUnitOfWorkFactory(engine)``, ``database_ok(engine)`` and
``flosspay.adapters.persistence.migrate.upgrade(url)``.
"""

from flosspay.adapters.persistence.engine import create_engine
from flosspay.adapters.persistence.health import database_ok
from flosspay.adapters.persistence.unit_of_work import SqlUnitOfWork, SqlUnitOfWorkFactory

__all__ = ["SqlUnitOfWork", "SqlUnitOfWorkFactory", "create_engine", "database_ok"]
