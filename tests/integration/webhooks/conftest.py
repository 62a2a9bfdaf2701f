"""Fixtures of the webhook tests: a real receiver, and a helper that drives payments to an outcome."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.integration.webhooks.receiver import Receiver


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver().start()
    yield r
    r.stop()
