"""The rails name their ledger accounts, and the shipped rails name exactly what the core used to derive.

Ledgers written before the rails named their accounts must keep verifying and their balances must
keep adding up: the names cannot change. The reference is the derivation frozen in migration 0006
(the core's old rules), checked against each shipped rail's ``prepare`` and against literal names.
"""

from __future__ import annotations

import importlib.util
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from types import ModuleType
from typing import Any

import msgspec
import pytest
from alembic import command

from flosspay.adapters.persistence.engine import create_engine
from flosspay.adapters.persistence.migrate import MIGRATIONS, alembic_config, upgrade
from flosspay.adapters.persistence.tables import payments
from flosspay.adapters.persistence.unit_of_work import SqlUnitOfWorkFactory
from flosspay.adapters.rails import RailLoader
from flosspay.domain.ledger import payment_accounts
from flosspay.domain.money import Money
from flosspay.domain.payment import Flow
from flosspay.domain.rail import Rail

pytestmark = pytest.mark.integration

PID = uuid.UUID("0b9a4c59-3b7e-4d0c-9a51-0c2f3c1d2e3f")


def _migration() -> ModuleType:
    path = MIGRATIONS / "versions" / "0006_rail_accounts_next_action.py"
    spec = importlib.util.spec_from_file_location("migration_0006", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def rails() -> Iterator[dict[str, Rail]]:
    loader = RailLoader()
    per_rail: dict[str, dict[str, str]] = {name: {} for name in ("upi", "card", "wallet")}
    loader.start_sandboxes(per_rail, ("card",))
    per_rail["upi"]["psp_url"] = per_rail["wallet"]["psp_url"] = "http://127.0.0.1:9"
    try:
        registry = loader.build(per_rail, ("upi", "card", "wallet"))
        yield {rail.name: rail for rail in registry.all()}
    finally:
        loader.stop_sandboxes()


CASES: list[tuple[str, dict[str, Any], str | None, str]] = [
    ("upi", {"senderUpi": "Alice.R@OkAxis", "receiverUpi": "shop@upi"}, "upi:vpa:alice.r@okaxis", "upi:vpa:shop@upi"),
    (
        "wallet",
        {"wallet": {"provider": " PayTM ", "walletId": "9876543210"}},
        "wallet:paytm:9876543210",
        "merchant:cl_1",
    ),
    (
        "card",
        {
            "card": {
                "number": "4111 1111 1111 1111",
                "expiryMonth": 12,
                "expiryYear": datetime.now(UTC).year + 3,
                "cvv": "123",
            }
        },
        None,
        "merchant:cl_1",
    ),
]


@pytest.mark.parametrize(("rail_name", "fields", "payer", "payee"), CASES, ids=[c[0] for c in CASES])
def test_shipped_rails_name_the_accounts_the_core_used_to(
    rails: dict[str, Rail], rail_name: str, fields: dict[str, Any], payer: str | None, payee: str
) -> None:
    rail = rails[rail_name]
    prepared = rail.prepare(msgspec.convert(fields, rail.request_type), Money(2800, "INR"), Flow.PAY)
    named = payment_accounts(rail.name, "cl_1", PID, prepared.payer_account, prepared.payee_account)
    legacy = _migration().legacy_accounts(rail.name, "cl_1", str(PID), prepared.details)
    assert named == legacy
    if payer is None:  # the card token is random: the name is the token, never the number
        assert named[0] == f"card:token:{prepared.details['pan_token']}" and "4111" not in named[0]
    else:
        assert named[0] == payer
    assert named[1] == payee
    again = rail.prepare(msgspec.convert(fields, rail.request_type), Money(100, "INR"), Flow.PAY)
    if rail_name != "card":  # stable across calls (a card is tokenised afresh, by design of the sandbox)
        assert (again.payer_account, again.payee_account) == (prepared.payer_account, prepared.payee_account)


@pytest.mark.parametrize("backend", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def test_migration_0006_gives_payments_accepted_before_it_their_old_account_names(
    backend: str, request: pytest.FixtureRequest
) -> None:
    url: str = request.getfixturevalue("sqlite_url" if backend == "sqlite" else "pg_database_url")
    engine = create_engine(url)
    try:
        with engine.begin() as connection:
            command.upgrade(alembic_config(connection), "0002")
        rows = {
            uuid.UUID(int=1): ("upi", {"senderUpi": "Alice@UPI", "receiverUpi": "Bob@upi"}),
            uuid.UUID(int=2): ("card", {"pan_token": "tok_a b", "last4": "1111"}),
            uuid.UUID(int=3): ("wallet", {"provider": "paytm", "wallet_id": "w-1"}),
            uuid.UUID(int=4): ("netbanking", {"bank": "HDFC"}),
        }
        now = datetime.now(UTC)
        with engine.begin() as connection:
            for pid, (rail, details) in rows.items():
                values = {"id": pid, "client_id": "cl_1", "flow": "PAY", "method": rail.upper(), "rail": rail}
                values |= {"amount_minor": 100, "currency": "INR", "details": details, "public": {}}
                values |= {"status": "QUEUED", "created_at": now, "updated_at": now, "version": 1}
                connection.execute(payments.insert().values(values))  # only the columns 0002 has
        upgrade(url)
        with SqlUnitOfWorkFactory(engine)() as uow:
            named = {pid: (p.payer_account, p.payee_account) for pid in rows if (p := uow.payments.get(pid))}
        assert named == {
            uuid.UUID(int=1): ("upi:vpa:alice@upi", "upi:vpa:bob@upi"),
            uuid.UUID(int=2): ("card:token:tok_a%20b", "merchant:cl_1"),
            uuid.UUID(int=3): ("wallet:paytm:w-1", "merchant:cl_1"),
            uuid.UUID(int=4): (f"netbanking:payer:{uuid.UUID(int=4)}", "merchant:cl_1"),
        }
    finally:
        engine.dispose()


def test_accounts_and_the_next_action_are_stored_with_the_payment(uow_factory: SqlUnitOfWorkFactory) -> None:
    from datetime import timedelta

    from tests.integration.persistence.support import T0, make_payment

    payment = make_payment()
    with uow_factory() as uow:
        uow.payments.add(payment)
        uow.commit()
    with uow_factory() as uow:
        loaded = uow.payments.get(payment.id)
        assert loaded is not None and loaded.next_action is None
        loaded.claim("w", T0, T0 + timedelta(seconds=30))
        loaded.require_action("3DS", T0, 1, {"type": "redirect", "url": "https://acs.example/x"})
        uow.payments.save(loaded)
        uow.commit()
    with uow_factory() as uow:
        again = uow.payments.get(payment.id)
        assert again is not None
        assert again.next_action == {"type": "redirect", "url": "https://acs.example/x"}
        assert (again.payer_account, again.payee_account) == ("upi:vpa:alice@upi", "upi:vpa:bob@upi")
        again.claim("w", T0, T0 + timedelta(seconds=30))
        again.complete(T0, "ok", 2)
        uow.payments.save(again)
        uow.commit()
    with uow_factory() as uow:
        final = uow.payments.get(payment.id)
        assert final is not None and final.next_action is None
