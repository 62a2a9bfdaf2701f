"""Create and list API clients (the CLI's ``flosspay clients``)."""

from __future__ import annotations

import secrets

from flosspay.domain.clients import ApiClient
from flosspay.domain.errors import FieldError, ValidationFailed
from flosspay.domain.ports import Clock, UnitOfWorkFactory


def create_client(name: str, *, uow_factory: UnitOfWorkFactory, clock: Clock) -> ApiClient:
    """A new client with a random id and a 256-bit secret; the caller shows the secret once."""
    name = name.strip()
    if not 1 <= len(name) <= 100 or not name.isprintable():
        raise ValidationFailed([FieldError("name", "must be 1 to 100 printable characters")])
    client = ApiClient(
        client_id="cl_" + secrets.token_hex(8),
        name=name,
        secret="sk_" + secrets.token_urlsafe(32),
        created_at=clock.now(),
    )
    with uow_factory() as uow:
        uow.clients.add(client)
        uow.commit()
    return client


def list_clients(*, uow_factory: UnitOfWorkFactory) -> list[ApiClient]:
    with uow_factory() as uow:
        return uow.clients.list()
