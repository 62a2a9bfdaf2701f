"""Fixtures for the worker adapter tests: a real Redis namespace of each test's own."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
import redis

from .support import RedisSetup


@pytest.fixture
def namespace(redis_url: str) -> Iterator[str]:
    """A Dramatiq namespace of this test's own; every key under it is deleted afterwards."""
    name = f"flosspay-test-{uuid.uuid4().hex[:12]}"
    yield name
    client = redis.Redis.from_url(redis_url)
    try:
        keys = list(client.scan_iter(match=f"{name}:*", count=500))
        if keys:
            client.delete(*keys)
    finally:
        client.close()


@pytest.fixture
def rq(redis_url: str, namespace: str) -> Iterator[RedisSetup]:
    """Redis URL, namespace and a client for looking at the broker's keys."""
    client = redis.Redis.from_url(redis_url)
    yield RedisSetup(redis_url, namespace, client)
    client.close()
