"""Fixtures of the HTTP API tests: a fresh in-memory world per test and a signing client over it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from http_api_support import SignedClient, World
from litestar.testing import TestClient


@pytest.fixture
def world() -> World:
    return World()


@pytest.fixture
def api(world: World) -> Iterator[SignedClient]:
    with TestClient(world.app()) as client:
        yield SignedClient(client, world)
