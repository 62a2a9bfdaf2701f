"""PostgreSQL: the chainer waits for transactions in its own database only, never for the whole server's.

The snapshot's xmin is cluster-wide: a long writing transaction in another database (another
application on a managed server, or a test run beside this one) used to stall the chain until it ended.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import sqlalchemy
from sqlalchemy.engine import Connection
from sqlalchemy.pool import NullPool

from flosspay.adapters.persistence.unit_of_work import SqlUnitOfWorkFactory
from tests.integration.ledger.support import LedgerWorld

pytestmark = [pytest.mark.integration, pytest.mark.postgres]


@pytest.fixture
def other_database(postgres_url: str) -> str:
    return postgres_url  # the server's own test database: not the one the test's ledger is in


def _holding_an_xid(url: str) -> Iterator[Connection]:
    engine = sqlalchemy.create_engine(url, poolclass=NullPool)
    connection = engine.connect()
    connection.exec_driver_sql("SELECT pg_current_xact_id()")  # a writing transaction, left open
    try:
        yield connection
    finally:
        connection.rollback()
        connection.close()
        engine.dispose()


def test_a_transaction_left_open_in_another_database_does_not_stall_the_chain(
    pg_database_url: str, other_database: str
) -> None:
    from flosspay.adapters.persistence.engine import create_engine
    from flosspay.adapters.persistence.migrate import upgrade
    from tests.db_fixtures import TEST_SECRET_BOX

    upgrade(pg_database_url)
    engine = create_engine(pg_database_url)
    try:
        world = LedgerWorld(SqlUnitOfWorkFactory(engine, TEST_SECRET_BOX))
        holder = _holding_an_xid(other_database)
        next(holder)
        try:
            world.pay(10)
            assert world.chain(wait_seconds=5) == 4  # three history rows and the entry, at once
            assert world.verify().ok
        finally:
            holder.close()
    finally:
        engine.dispose()


def test_a_transaction_left_open_in_this_database_still_holds_the_chain_back(pg_database_url: str) -> None:
    from flosspay.adapters.persistence.engine import create_engine
    from flosspay.adapters.persistence.migrate import upgrade
    from tests.db_fixtures import TEST_SECRET_BOX

    upgrade(pg_database_url)
    engine = create_engine(pg_database_url)
    try:
        world = LedgerWorld(SqlUnitOfWorkFactory(engine, TEST_SECRET_BOX))
        holder = _holding_an_xid(pg_database_url)  # could still write rows that sort before later ones
        next(holder)
        try:
            world.pay(10)
            assert world.chain(wait_seconds=0) == 0
        finally:
            holder.close()
        assert world.chain(wait_seconds=5) == 4
        assert world.verify().ok
    finally:
        engine.dispose()
