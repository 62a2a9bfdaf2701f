"""API clients (merchants) and their signing secrets, sealed at rest (see ``adapters.secret_box``)."""

from __future__ import annotations

from sqlalchemy import bindparam, select, update

from flosspay.adapters.persistence import mapping
from flosspay.adapters.persistence.connection import GuardedConnection
from flosspay.adapters.persistence.tables import api_clients
from flosspay.adapters.secret_box import SecretBox
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
_SAVED = (
    "secret",
    "secret_key_id",
    "previous_secret",
    "previous_secret_key_id",
    "previous_secret_expires_at",
    "active",
)
_UPDATE = (
    update(api_clients).where(api_clients.c.client_id == bindparam("b_id")).values({n: bindparam(n) for n in _SAVED})
)


class SecretsUnavailable(RuntimeError):
    """The repository was built without a ``SecretBox``, so it cannot read or write client secrets."""


class SqlClientRepository:
    def __init__(self, db: GuardedConnection, box: SecretBox | None = None) -> None:
        self._db = db
        self._box = box

    @property
    def box(self) -> SecretBox:
        if self._box is None:
            raise SecretsUnavailable("client secrets need the server's secret key (SqlUnitOfWorkFactory(secret_box=…))")
        return self._box

    def add(self, client: ApiClient) -> None:
        self._db.execute(_INSERT, mapping.client_row(client, self.box))

    def get(self, client_id: str) -> ApiClient | None:
        row = self._db.execute(_SELECT_ONE, {"b_id": client_id}).mappings().first()
        return mapping.client_from_row(row, self.box) if row is not None else None

    def list(self) -> list[ApiClient]:
        return [mapping.client_from_row(row, self.box) for row in self._db.execute(_SELECT_ALL).mappings()]

    def set_limit(self, client_id: str, limit: BucketLimit) -> bool:
        result = self._db.execute(_SET_LIMIT, {"b_id": client_id, "b_rate": limit.rate, "b_burst": limit.burst})
        return bool(result.rowcount)

    def save(self, client: ApiClient) -> None:
        """Write the client's secrets (sealed afresh under the current key) and whether it is active."""
        row = mapping.client_row(client, self.box)
        params = {k: v for k, v in row.items() if k in _SAVED}
        self._db.execute(_UPDATE, params | {"b_id": client.client_id})

    def reseal_all(self) -> int:
        """Seal every client's secrets under the current key; how many rows were under an older one."""
        stale = 0
        for row in self._db.execute(_SELECT_ALL).mappings().all():
            keys = {row["secret_key_id"], row["previous_secret_key_id"]} - {None}
            if all(self.box.is_current(k) for k in keys):
                continue
            self.save(mapping.client_from_row(row, self.box))
            stale += 1
        return stale
