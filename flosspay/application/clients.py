"""Create and list API clients (the CLI's ``flosspay clients``)."""

from __future__ import annotations

import secrets

import msgspec

from flosspay.domain.bucket import BucketLimit
from flosspay.domain.clients import ApiClient
from flosspay.domain.errors import FieldError, NotFound, ValidationFailed
from flosspay.domain.ports import Clock, UnitOfWorkFactory


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
        secret="sk_" + secrets.token_urlsafe(32),
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
