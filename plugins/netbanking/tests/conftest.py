"""The net banking rail's declarations for the conformance suite (only what differs from the defaults)."""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

import httpx
import pytest
from flosspay_conformance import InvalidInput, RailRequirements, RailScenarios
from flosspay_netbanking.banks import BANKS, TEST_BANKS

from flosspay.railapi import Money, RailRequest

API_KEY = "sk_test_netbanking_conformance_7d2e"
RETURN_URL = "https://shop.example/orders/42/return"


def netbanking(bank: str, return_url: str = RETURN_URL) -> dict[str, Any]:
    """Raw request fields, as a merchant sends them."""
    return {"netbanking": {"bank": bank, "returnUrl": return_url}}


class NetbankingRequirements(RailRequirements):
    @property
    def three_d_secure(self) -> bool:  # the customer's authorisation at the bank
        return True

    @property
    def next_action(self) -> bool:
        return True


class NetbankingScenarios(RailScenarios):
    api_key = API_KEY
    rail_options = MappingProxyType({"banks": ",".join([*BANKS, *TEST_BANKS])})  # the test banks too
    sandbox_options = MappingProxyType({"sandbox_auto_seconds": "0.3", "sandbox_slow_seconds": "1.0"})

    def valid(self, case: str) -> Mapping[str, Any]:
        return netbanking("XAPR")

    def invalid(self) -> list[InvalidInput]:
        return [
            InvalidInput(netbanking("ABCD"), field="netbanking.bank", why="unknown bank code"),
            InvalidInput(netbanking("HDFC", "javascript:alert(1)"), field="netbanking.returnUrl", why="not http(s)"),
            InvalidInput(netbanking("HDFC", "https://a b/"), field="netbanking.returnUrl", why="a space"),
            InvalidInput(netbanking("HDFC"), field="currency", amount=Money(100, "USD"), why="INR only"),
            InvalidInput({"netbanking": {"bank": "HDFC"}}, why="returnUrl missing"),
        ]

    def declined(self, case: str) -> Mapping[str, Any]:
        return netbanking("XDEC")

    def transient(self, case: str) -> Mapping[str, Any]:
        return netbanking("XBSY")

    def uncertain(self, case: str) -> Mapping[str, Any]:
        return netbanking("XERR")

    def slow(self, case: str) -> Mapping[str, Any]:
        return netbanking("XSLW")

    def action_required(self, case: str) -> Mapping[str, Any]:
        return netbanking("XAUT")

    def charged_minor(self, psp_url: str, request: RailRequest) -> int:
        headers = {"Authorization": f"Bearer {API_KEY}"}
        answer = httpx.get(f"{psp_url}/v1/sandbox/payments/{request.reference}", headers=headers, timeout=5)
        answer.raise_for_status()
        return int(answer.json()["capturedMinor"])


@pytest.fixture
def conformance_rail_name() -> str:
    return "netbanking"


@pytest.fixture
def conformance_requirements() -> RailRequirements:
    return NetbankingRequirements()


@pytest.fixture
def conformance_scenarios() -> RailScenarios:
    return NetbankingScenarios()
