"""API clients: stored with their secret, listed in creation order."""

from __future__ import annotations

from datetime import timedelta

import pytest

from flosspay.adapters.persistence.unit_of_work import SqlUnitOfWorkFactory
from flosspay.application.clients import create_client, list_clients
from flosspay.domain.clients import ApiClient
from tests.fakes import FakeClock
from tests.integration.persistence.support import T0

pytestmark = pytest.mark.integration


def test_clients_are_added_got_and_listed(uow_factory: SqlUnitOfWorkFactory) -> None:
    later = ApiClient("cl_b", "Beta Stores", "sk_b", T0 + timedelta(seconds=1), active=False)
    earlier = ApiClient("cl_a", "Acme", "sk_a", T0)
    with uow_factory() as uow:
        uow.clients.add(later)
        uow.clients.add(earlier)
        uow.commit()
    with uow_factory() as uow:
        assert uow.clients.get("cl_a") == earlier
        assert uow.clients.get("cl_b") == later
        assert uow.clients.get("cl_missing") is None
        assert uow.clients.list() == [earlier, later]


def test_the_client_use_cases_work_on_the_database(uow_factory: SqlUnitOfWorkFactory) -> None:
    created = create_client("  Corner Shop ", uow_factory=uow_factory, clock=FakeClock())
    assert list_clients(uow_factory=uow_factory) == [created]
    assert created.name == "Corner Shop" and created.created_at == FakeClock().now()
