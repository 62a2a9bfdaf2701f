"""Fixtures for the UPI rail's tests: a real sandbox PSP on an ephemeral loopback port, short delays."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from flosspay_upi.rail import UpiRail
from flosspay_upi.sandbox import UpiSandbox
from upi_helpers import APPROVE_SECONDS, SLOW_SECONDS


@pytest.fixture(scope="module")
def sandbox() -> Iterator[UpiSandbox]:
    box = UpiSandbox({"slow_seconds": str(SLOW_SECONDS), "collect_approve_seconds": str(APPROVE_SECONDS)})
    box.start("127.0.0.1", 0)
    yield box
    box.stop()


@pytest.fixture
def psp_url(sandbox: UpiSandbox) -> str:
    assert sandbox.base_url is not None
    return sandbox.base_url


@pytest.fixture
def rail(psp_url: str) -> Iterator[UpiRail]:
    upi = UpiRail({"psp_url": psp_url, "timeout": "3"})
    yield upi
    upi.close()
