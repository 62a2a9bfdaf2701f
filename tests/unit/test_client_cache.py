"""The API client cache: authenticating a request costs no query while the entry is fresh."""

from datetime import UTC, datetime

import pytest

from flosspay.adapters.client_cache import MISS, ClientCache
from flosspay.domain.clients import ApiClient
from tests.fakes import FakeUnitOfWorkFactory

pytestmark = pytest.mark.unit


class Counting(FakeUnitOfWorkFactory):
    calls = 0

    def __call__(self):
        self.calls += 1
        return super().__call__()


def make(active: bool = True) -> tuple[Counting, list[float]]:
    uow = Counting()
    uow.store.clients["c1"] = ApiClient("c1", "n", "s", datetime(2026, 1, 1, tzinfo=UTC), active)
    return uow, [100.0]


def test_hit_is_cached_for_ttl_then_reloaded():
    uow, now = make()
    cache = ClientCache(uow, ttl=30, miss_ttl=2, monotonic=lambda: now[0])
    assert cache.peek("c1") is MISS
    assert cache("c1").client_id == "c1" and uow.calls == 1
    assert cache.peek("c1").client_id == "c1"
    now[0] += 29.9
    cache("c1")
    assert uow.calls == 1
    now[0] += 0.2
    assert cache.peek("c1") is MISS
    cache("c1")
    assert uow.calls == 2


def test_misses_and_inactive_clients_are_cached_briefly_as_none():
    uow, now = make(active=False)
    cache = ClientCache(uow, ttl=30, miss_ttl=2, monotonic=lambda: now[0])
    assert cache("c1") is None and cache("nobody") is None and uow.calls == 2
    assert cache.peek("nobody") is None
    now[0] += 2.1
    assert cache.peek("nobody") is MISS


def test_size_is_bounded():
    uow, now = make()
    cache = ClientCache(uow, max_entries=2, monotonic=lambda: now[0])
    for name in ("a", "b", "c"):
        cache(name)
    assert cache.peek("a") is MISS and cache.peek("c") is None
