"""Migration 0010: the database itself refuses to refund more than a payment's amount (both backends)."""

from __future__ import annotations

import uuid

import pytest
import sqlalchemy
from alembic import command
from sqlalchemy.exc import DBAPIError, IntegrityError

from flosspay.adapters.persistence.migrate import _run, alembic_config, current, upgrade

pytestmark = pytest.mark.integration

PAYMENT = (
    "INSERT INTO payments (id, client_id, flow, method, rail, amount_minor, currency, details, public, status, "
    "created_at, updated_at, version) VALUES (:id, 'c1', 'PAY', 'UPI', 'upi', 1000, 'INR', '{}', '{}', "
    "'COMPLETED', '2026-12-01 00:00:00+00:00', '2026-12-01 00:00:00+00:00', 1)"
)
RESERVE = (
    "UPDATE payments SET refund_reserved_minor = refund_reserved_minor + :x "
    "WHERE id = :id AND refund_reserved_minor + :x <= amount_minor"
)


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def url(request: pytest.FixtureRequest) -> str:
    value: str = request.getfixturevalue("sqlite_url" if request.param == "sqlite" else "pg_database_url")
    upgrade(value)
    return value


def _pid(engine: sqlalchemy.Engine, payment_id: uuid.UUID) -> str:
    return payment_id.hex if engine.dialect.name == "sqlite" else str(payment_id)


def test_the_reservation_never_exceeds_the_amount_even_written_directly(url: str) -> None:
    engine = sqlalchemy.create_engine(url, poolclass=sqlalchemy.pool.NullPool)
    payment_id = _pid(engine, uuid.uuid4())
    try:
        with engine.begin() as connection:
            connection.execute(sqlalchemy.text(PAYMENT), {"id": payment_id})
            assert connection.execute(sqlalchemy.text(RESERVE), {"id": payment_id, "x": 600}).rowcount == 1
            assert connection.execute(sqlalchemy.text(RESERVE), {"id": payment_id, "x": 500}).rowcount == 0
        # Past the guard (a bug, or an operator's UPDATE): the CHECK constraint still refuses it.
        with pytest.raises(IntegrityError), engine.begin() as connection:
            connection.execute(
                sqlalchemy.text("UPDATE payments SET refund_reserved_minor = 1001 WHERE id = :id"), {"id": payment_id}
            )
        with pytest.raises(IntegrityError), engine.begin() as connection:
            connection.execute(
                sqlalchemy.text("UPDATE payments SET refund_reserved_minor = -1 WHERE id = :id"), {"id": payment_id}
            )
        with engine.connect() as connection:
            reserved = connection.execute(
                sqlalchemy.text("SELECT refund_reserved_minor FROM payments WHERE id = :id"), {"id": payment_id}
            ).scalar_one()
        assert reserved == 600
    finally:
        engine.dispose()


def test_refund_entries_are_a_known_kind_and_refund_history_is_append_only(url: str) -> None:
    engine = sqlalchemy.create_engine(url, poolclass=sqlalchemy.pool.NullPool)
    payment_id, refund_id = _pid(engine, uuid.uuid4()), _pid(engine, uuid.uuid4())
    at = "'2026-12-01 00:00:00+00:00'"
    try:
        with engine.begin() as connection:
            connection.execute(sqlalchemy.text(PAYMENT), {"id": payment_id})
            connection.execute(
                sqlalchemy.text(
                    "INSERT INTO refunds (id, payment_id, client_id, amount_minor, currency, status, created_at, "
                    f"updated_at, version) VALUES (:r, :p, 'c1', 100, 'INR', 'PENDING', {at}, {at}, 1)"
                ),
                {"r": refund_id, "p": payment_id},
            )
            connection.execute(
                sqlalchemy.text(
                    "INSERT INTO refund_history (refund_id, seq, to_status, at, reason) "
                    f"VALUES (:r, 0, 'PENDING', {at}, 'requested')"
                ),
                {"r": refund_id},
            )
            connection.execute(
                sqlalchemy.text(
                    "INSERT INTO ledger_entries (id, kind, payment_id, posted_at, description) "
                    f"VALUES (:e, 'refund', :p, {at}, 'refund')"
                ),
                {"e": _pid(engine, uuid.uuid4()), "p": payment_id},
            )
        with pytest.raises(DBAPIError, match="append-only"), engine.begin() as connection:
            connection.execute(sqlalchemy.text("UPDATE refund_history SET reason = 'x'"))
        with pytest.raises(DBAPIError, match="append-only"), engine.begin() as connection:
            connection.execute(sqlalchemy.text("DELETE FROM refund_history"))
        with pytest.raises(IntegrityError), engine.begin() as connection:
            connection.execute(
                sqlalchemy.text(
                    "INSERT INTO ledger_entries (id, kind, payment_id, posted_at, description) "
                    f"VALUES (:e, 'gift', :p, {at}, 'no such kind')"
                ),
                {"e": _pid(engine, uuid.uuid4()), "p": payment_id},
            )
    finally:
        engine.dispose()


def test_0010_downgrades_and_upgrades_again_on_an_empty_refund_table(url: str) -> None:
    _run(url, lambda connection: command.downgrade(alembic_config(connection), "0009"))
    assert current(url) == "0009"
    engine = sqlalchemy.create_engine(url, poolclass=sqlalchemy.pool.NullPool)
    try:
        with engine.connect() as connection:
            columns = {c["name"] for c in sqlalchemy.inspect(connection).get_columns("payments")}
        assert "refund_reserved_minor" not in columns
    finally:
        engine.dispose()
    upgrade(url)
    assert current(url) == "0012"
