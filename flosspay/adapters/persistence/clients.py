"""API clients (merchants) and their signing secrets."""

from __future__ import annotations

from sqlalchemy import bindparam, select, update

from flosspay.adapters.persistence import mapping
from flosspay.adapters.persistence.connection import GuardedConnection
from flosspay.adapters.persistence.tables import api_clients
from flosspay.domain.bucket import BucketLimit
from flosspay.domain.clients import ApiClient

_INSERT = api_clients.insert()
_SELECT_ONE = select(api_clients).where(api_clients.c.client_id == bindparam("b_id"))
_SET_LIMIT = (
    update(api_clients)
    .where(api_clients.c.client_id == bindparam("b_id"))
    .values(rate_per_second=bindparam("b_rate"), burst=bindparam("b_burst"))
)
_SELECT_ALL = select(api_clients).order_by(api_clients.c.created_at, api_clients.c.client_id)


class SqlClientRepository:
    def __init__(self, db: GuardedConnection) -> None:
        self._db = db

    def add(self, client: ApiClient) -> None:
        self._db.execute(_INSERT, mapping.client_row(client))

    def get(self, client_id: str) -> ApiClient | None:
        row = self._db.execute(_SELECT_ONE, {"b_id": client_id}).mappings().first()
        return mapping.client_from_row(row) if row is not None else None

    def list(self) -> list[ApiClient]:
        return [mapping.client_from_row(row) for row in self._db.execute(_SELECT_ALL).mappings()]

    def set_limit(self, client_id: str, limit: BucketLimit) -> bool:
        result = self._db.execute(_SET_LIMIT, {"b_id": client_id, "b_rate": limit.rate, "b_burst": limit.burst})
        return bool(result.rowcount)
