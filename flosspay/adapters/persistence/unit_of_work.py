"""The unit of work: one connection, one transaction, committed only when told."""

from __future__ import annotations

from types import TracebackType
from typing import Self

from sqlalchemy import Engine

from flosspay.adapters.persistence.chain import SqlChainRepository
from flosspay.adapters.persistence.clients import SqlClientRepository
from flosspay.adapters.persistence.connection import GuardedConnection
from flosspay.adapters.persistence.idempotency import SqlIdempotencyStore
from flosspay.adapters.persistence.ledger import SqlLedgerRepository
from flosspay.adapters.persistence.outbox import SqlOutbox
from flosspay.adapters.persistence.payments import SqlPaymentRepository
from flosspay.adapters.persistence.refunds import SqlRefundRepository
from flosspay.adapters.persistence.webhooks import SqlWebhookRepository
from flosspay.adapters.secret_box import SecretBox


class SqlUnitOfWork:
    """``with uow: ...; uow.commit()``. Leaving the block without ``commit()`` rolls back.

    Raises ``ServiceUnavailable`` (never a driver error) when the database cannot be reached, on
    entering, on any statement, or on commit.
    """

    def __init__(self, engine: Engine, secret_box: SecretBox | None = None) -> None:
        self._db = GuardedConnection(engine)
        self.payments = SqlPaymentRepository(self._db)
        self.refunds = SqlRefundRepository(self._db)  # issue 13
        self.idempotency = SqlIdempotencyStore(self._db)
        self.outbox = SqlOutbox(self._db)
        self.clients = SqlClientRepository(self._db, secret_box)
        self.ledger = SqlLedgerRepository(self._db)
        self.chain = SqlChainRepository(self._db)
        self.webhooks = SqlWebhookRepository(self._db, secret_box)  # issue 12

    def __enter__(self) -> Self:
        self._db.open()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._db.close()

    def commit(self) -> None:
        self._db.commit()

    def rollback(self) -> None:
        self._db.rollback()


class SqlUnitOfWorkFactory:
    """Makes a fresh ``SqlUnitOfWork`` per use case call; safe to share between threads.

    ``secret_box`` seals and opens API client and webhook endpoint secrets; without it the client
    repository, and the webhook repository's endpoint methods, refuse to work.
    """

    def __init__(self, engine: Engine, secret_box: SecretBox | None = None) -> None:
        self.engine = engine
        self.secret_box = secret_box

    def __call__(self) -> SqlUnitOfWork:
        return SqlUnitOfWork(self.engine, self.secret_box)
