"""Fixtures of the security tests: the HTTP API over in-memory fakes, signed like a merchant."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from litestar.testing import TestClient

from tests.integration.http.http_api_support import SignedClient, World


@pytest.fixture
def world() -> World:
    return World()


@pytest.fixture
def api(world: World) -> Iterator[SignedClient]:
    with TestClient(world.app()) as client:
        yield SignedClient(client, world)
