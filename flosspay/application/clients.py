"""Create, list, rotate and disable API clients (the CLI's ``flosspay clients``)."""

from __future__ import annotations

import secrets
from datetime import timedelta

import msgspec

from flosspay.domain.clients import ApiClient
from flosspay.domain.errors import FieldError, NotFound, ValidationFailed
from flosspay.domain.ports import Clock, UnitOfWorkFactory

DEFAULT_SECRET_OVERLAP = timedelta(hours=24)


def _new_secret() -> str:
    return "sk_" + secrets.token_urlsafe(32)


def create_client(name: str, *, uow_factory: UnitOfWorkFactory, clock: Clock) -> ApiClient:
    """A new client with a random id and a 256-bit secret; the caller shows the secret once."""
    name = name.strip()
    if not 1 <= len(name) <= 100 or not name.isprintable():
        raise ValidationFailed([FieldError("name", "must be 1 to 100 printable characters")])
    client = ApiClient(
        client_id="cl_" + secrets.token_hex(8),
        name=name,
        secret=_new_secret(),
        created_at=clock.now(),
    )
    with uow_factory() as uow:
        uow.clients.add(client)
        uow.commit()
    return client


def list_clients(*, uow_factory: UnitOfWorkFactory) -> list[ApiClient]:
    with uow_factory() as uow:
        return uow.clients.list()


def rotate_client_secret(
    client_id: str, *, uow_factory: UnitOfWorkFactory, clock: Clock, overlap: timedelta = DEFAULT_SECRET_OVERLAP
) -> ApiClient:
    """Issue a new secret; the one it replaces is still accepted for ``overlap`` (zero: not at all).

    Only the secret being replaced overlaps: rotating twice within the overlap ends the first secret.
    """
    if overlap < timedelta(0):
        raise ValidationFailed([FieldError("overlap", "must not be negative")])
    with uow_factory() as uow:
        client = uow.clients.get(client_id)
        if client is None:
            raise NotFound(f"no client {client_id!r}")
        keep_old = overlap > timedelta(0)
        rotated = msgspec.structs.replace(
            client,
            secret=_new_secret(),
            previous_secret=client.secret if keep_old else None,
            previous_secret_expires_at=clock.now() + overlap if keep_old else None,
        )
        uow.clients.save(rotated)
        uow.commit()
    return rotated


def disable_client(client_id: str, *, uow_factory: UnitOfWorkFactory) -> ApiClient:
    """Refuse every request of the client from now on (within the API's client cache time, 30 s)."""
    with uow_factory() as uow:
        client = uow.clients.get(client_id)
        if client is None:
            raise NotFound(f"no client {client_id!r}")
        disabled = msgspec.structs.replace(client, active=False, previous_secret=None, previous_secret_expires_at=None)
        uow.clients.save(disabled)
        uow.commit()
    return disabled
