"""A short-lived in-process cache of API clients, so authenticating a request costs no query."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from flosspay.domain.clients import ApiClient
from flosspay.domain.ports import UnitOfWorkFactory

MISS = object()
"""``ClientCache.peek``'s answer when it would have to ask the database."""


class ClientCache:
    """Hits are kept ``ttl`` seconds (a deactivated client is refused within that), misses ``miss_ttl``."""

    def __init__(
        self,
        uow_factory: UnitOfWorkFactory,
        ttl: float = 30.0,
        miss_ttl: float = 2.0,
        max_entries: int = 10_000,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._uow_factory = uow_factory
        self._ttl = ttl
        self._miss_ttl = miss_ttl
        self._max = max_entries
        self._now = monotonic
        self._entries: dict[str, tuple[float, ApiClient | None]] = {}
        self._lock = threading.Lock()

    def peek(self, client_id: str) -> ApiClient | object | None:
        """The cached answer without any I/O (safe on the event loop), or ``MISS``."""
        entry = self._entries.get(client_id)
        if entry is not None and entry[0] > self._now():
            return entry[1]
        return MISS

    def __call__(self, client_id: str) -> ApiClient | None:
        cached = self.peek(client_id)
        if cached is not MISS:
            return cached  # type: ignore[return-value]
        now = self._now()
        with self._uow_factory() as uow:
            client = uow.clients.get(client_id)
        if client is not None and not client.active:
            client = None
        with self._lock:
            if len(self._entries) >= self._max:
                self._entries.clear()
            self._entries[client_id] = (now + (self._ttl if client else self._miss_ttl), client)
        return client
