"""Migrations: run from code to head, idempotently, and produce exactly the schema the code queries."""

from __future__ import annotations

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Engine, func, select

from flosspay.adapters.persistence.engine import create_engine
from flosspay.adapters.persistence.migrate import MIGRATIONS, current, head, upgrade
from flosspay.adapters.persistence.tables import metadata
from flosspay.adapters.persistence.unit_of_work import SqlUnitOfWorkFactory
from flosspay.domain.clients import ApiClient
from tests.db_fixtures import TEST_SECRET_BOX
from tests.integration.persistence.support import T0

pytestmark = pytest.mark.integration


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def empty_url(request: pytest.FixtureRequest) -> str:
    """A database that has never been migrated."""
    url: str = request.getfixturevalue("sqlite_url" if request.param == "sqlite" else "pg_database_url")
    return url


def test_upgrade_reaches_head_and_running_it_again_changes_nothing(empty_url: str) -> None:
    assert current(empty_url) is None
    upgrade(empty_url)
    assert current(empty_url) == head() == "0012"
    engine = create_engine(empty_url)
    try:
        client = ApiClient("cl_keep", "Kept", "sk", T0)
        with SqlUnitOfWorkFactory(engine, TEST_SECRET_BOX)() as uow:
            uow.clients.add(client)
            uow.commit()
        upgrade(empty_url)  # already at head: a no-op that keeps the data
        assert current(empty_url) == head()
        with SqlUnitOfWorkFactory(engine, TEST_SECRET_BOX)() as uow:
            assert uow.clients.list() == [client]
        with engine.connect() as connection:
            assert connection.exec_driver_sql("SELECT count(*) FROM alembic_version").scalar_one() == 1
    finally:
        engine.dispose()


def test_the_migrated_schema_matches_the_tables_the_code_uses(engine: Engine) -> None:
    with engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True, "target_metadata": metadata})
        assert compare_metadata(context, metadata) == []
        for table in metadata.sorted_tables:
            assert connection.execute(select(func.count()).select_from(table)).scalar_one() == 0


def test_the_migrations_ship_inside_the_package() -> None:
    assert MIGRATIONS.parent.name == "persistence"
    assert (MIGRATIONS / "env.py").is_file() and (MIGRATIONS / "script.py.mako").is_file()
    assert sorted(p.name for p in (MIGRATIONS / "versions").glob("*.py")) == [
        "0001_initial.py",
        "0002_ledger_chain.py",
        "0003_secrets_at_rest.py",
        "0004_dead_letters.py",
        "0005_client_rate_limits.py",
        "0006_rail_accounts_next_action.py",
        "0008_outbox_request_id.py",
        "0009_webhooks.py",
        "0010_refunds.py",
        "0011_refund_history_chain.py",
        "0012_entry_ref_index_partial.py",
    ]


@pytest.mark.parametrize(
    ("url", "complaint"),
    [
        ("mysql://root@localhost/flosspay", "unsupported database"),
        ("sqlite://", "in-memory"),
        ("sqlite:///:memory:", "in-memory"),
        ("not a url", "malformed"),
    ],
)
def test_a_bad_url_is_refused_with_the_reason(url: str, complaint: str) -> None:
    with pytest.raises(ValueError, match=complaint):
        upgrade(url)


def _ref_index_is_partial(url: str) -> bool:
    engine = create_engine(url)
    try:
        with engine.connect() as connection:
            if connection.dialect.name == "postgresql":
                sql = "SELECT indexdef FROM pg_indexes WHERE indexname = 'ix_ledger_entries_ref_entry_id'"
            else:
                sql = "SELECT sql FROM sqlite_master WHERE name = 'ix_ledger_entries_ref_entry_id'"
            definition = str(connection.exec_driver_sql(sql).scalar_one())
    finally:
        engine.dispose()
    return "WHERE" in definition.upper() and "IS NOT NULL" in definition.upper()


def test_0012_keeps_payment_entries_out_of_the_ref_entry_index_and_downgrades(empty_url: str) -> None:
    from alembic import command

    from flosspay.adapters.persistence.migrate import _run, alembic_config

    upgrade(empty_url)
    assert _ref_index_is_partial(empty_url)
    _run(empty_url, lambda connection: command.downgrade(alembic_config(connection), "0011"))
    assert current(empty_url) == "0011"
    assert not _ref_index_is_partial(empty_url)
    upgrade(empty_url)
    assert current(empty_url) == "0012"
    assert _ref_index_is_partial(empty_url)
