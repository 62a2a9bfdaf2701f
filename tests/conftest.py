"""Shared test configuration: where the real services are, and whether their absence is a failure.

Tests that need PostgreSQL, Redis or RabbitMQ ask for ``postgres_url`` / ``redis_url`` /
``rabbitmq_url``. Without the server
they are skipped with the reason, unless FLOSSPAY_REQUIRE_SERVICES=1 (as in CI), which fails them.
"""

from __future__ import annotations

import os
import socket
from urllib.parse import urlsplit

import pytest

pytest_plugins = ["tests.db_fixtures"]

POSTGRES_URL = os.environ.get("FLOSSPAY_TEST_DATABASE_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
REDIS_URL = os.environ.get("FLOSSPAY_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
RABBITMQ_URL = os.environ.get("FLOSSPAY_TEST_RABBITMQ_URL", "amqp://guest:guest@127.0.0.1:5672/")
REQUIRE_SERVICES = os.environ.get("FLOSSPAY_REQUIRE_SERVICES") == "1"


def _reachable(url: str, default_port: int) -> bool:
    parts = urlsplit(url)
    try:
        with socket.create_connection((parts.hostname or "127.0.0.1", parts.port or default_port), timeout=1):
            return True
    except OSError:
        return False


def _need(name: str, url: str, port: int) -> str:
    if not _reachable(url, port):
        message = f"{name} is not reachable at {url} (set FLOSSPAY_TEST_{name.upper()}_URL)"
        if REQUIRE_SERVICES:
            pytest.fail(f"FLOSSPAY_REQUIRE_SERVICES=1 but {message}")
        pytest.skip(message)
    return url


@pytest.fixture(scope="session")
def postgres_url() -> str:
    """SQLAlchemy URL of a PostgreSQL database the tests may use (``postgresql+psycopg://``)."""
    return _need("database", POSTGRES_URL, 5432)


@pytest.fixture(scope="session")
def redis_url() -> str:
    return _need("redis", REDIS_URL, 6379)


@pytest.fixture(scope="session")
def rabbitmq_url() -> str:
    """AMQP URL of the RabbitMQ the broker tests use (fails, never skips, under FLOSSPAY_REQUIRE_SERVICES=1)."""
    return _need("rabbitmq", RABBITMQ_URL, 5672)
