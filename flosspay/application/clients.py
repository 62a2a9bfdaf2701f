"""Create, list, rotate and disable API clients (the CLI's ``flosspay clients``)."""

from __future__ import annotations

import secrets
from datetime import timedelta

import msgspec

from flosspay.domain.bucket import BucketLimit
from flosspay.domain.clients import ApiClient
from flosspay.domain.errors import FieldError, NotFound, ValidationFailed
from flosspay.domain.ports import Clock, UnitOfWorkFactory

DEFAULT_SECRET_OVERLAP = timedelta(hours=24)


def _new_secret() -> str:
    return "sk_" + secrets.token_urlsafe(32)


def rate_limit(rate: float, burst: int) -> BucketLimit:
    """A client's token bucket, or a ValidationFailed naming ``rate`` or ``burst``."""
    try:
        return BucketLimit(rate=float(rate), burst=int(burst))
    except ValueError as exc:
        field = "burst" if str(exc).startswith("burst") else "rate"
        raise ValidationFailed([FieldError(field, str(exc).split(" ", 1)[1])]) from None


def create_client(
    name: str, *, uow_factory: UnitOfWorkFactory, clock: Clock, limit: BucketLimit | None = None
) -> ApiClient:
    """A new client with a random id and a 256-bit secret; the caller shows the secret once."""
    name = name.strip()
    if not 1 <= len(name) <= 100 or not name.isprintable():
        raise ValidationFailed([FieldError("name", "must be 1 to 100 printable characters")])
    client = ApiClient(
        client_id="cl_" + secrets.token_hex(8),
        name=name,
        secret=_new_secret(),
        created_at=clock.now(),
        limit=limit or BucketLimit(),
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


def update_client_limit(
    client_id: str, *, rate: float | None, burst: int | None, uow_factory: UnitOfWorkFactory
) -> ApiClient:
    """Change a client's rate and/or burst (running API processes see it within their client cache's TTL)."""
    with uow_factory() as uow:
        client = uow.clients.get(client_id)
        if client is None:
            raise NotFound(f"no client {client_id!r}")
        limit = rate_limit(client.limit.rate if rate is None else rate, client.limit.burst if burst is None else burst)
        uow.clients.set_limit(client_id, limit)
        uow.commit()
    return msgspec.structs.replace(client, limit=limit)
