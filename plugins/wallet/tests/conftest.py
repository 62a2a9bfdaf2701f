"""The wallet rail's declarations for the conformance suite, and fixtures for its own tests."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from types import MappingProxyType
from typing import Any

import httpx
import pytest
from flosspay_conformance import InvalidInput, RailRequirements, RailScenarios
from flosspay_wallet.rail import WalletRail
from flosspay_wallet.sandbox import WalletSandbox
from flosspay_wallet.settings import WalletSettings

from flosspay.railapi import Money, RailRequest

API_KEY = "sk_test_wallet_conformance_8d2e71"


def wallet(wallet_id: str, provider: str = "paytm") -> dict[str, Any]:
    """Raw request fields for a wallet, as a merchant sends them."""
    return {"wallet": {"provider": provider, "walletId": wallet_id}}


class WalletRequirements(RailRequirements):
    @property
    def refunds(self) -> bool:
        return True

    @property
    def partial_refunds(self) -> bool:
        return True


class WalletScenarios(RailScenarios):
    amount = Money(25_000, "INR")
    api_key = API_KEY
    sandbox_options = MappingProxyType({"sandbox_slow_seconds": "1.0"})

    def valid(self, case: str) -> Mapping[str, Any]:
        return wallet(f"asha-{case}")

    def largest(self, case: str) -> Mapping[str, Any]:
        """A wallet id at the longest the rail accepts (64 characters)."""
        return wallet(f"asha-{case}-".ljust(64, "z"))

    def invalid(self) -> list[InvalidInput]:
        return [
            InvalidInput(wallet("asha-1", provider="nowallet"), field="wallet.provider", why="unknown provider"),
            InvalidInput(wallet("a b"), field="wallet.walletId", why="malformed wallet id"),
            InvalidInput(wallet("asha-1"), field="currency", amount=Money(1_000, "USD"), why="wallets are INR"),
            InvalidInput({"wallet": {"provider": "paytm"}}, why="walletId missing"),
        ]

    def declined(self, case: str) -> Mapping[str, Any]:
        return wallet(f"empty-{case}")

    def transient(self, case: str) -> Mapping[str, Any]:
        return wallet(f"transient-{case}")

    def uncertain(self, case: str) -> Mapping[str, Any]:
        return wallet(f"uncertain-{case}")

    def slow(self, case: str) -> Mapping[str, Any]:
        return wallet(f"slow-{case}")

    def charged_minor(self, psp_url: str, request: RailRequest) -> int:
        provider, wallet_id = request.details["provider"], request.details["wallet_id"]
        headers = {"Authorization": f"Bearer {API_KEY}"}
        answer = httpx.get(f"{psp_url}/v1/sandbox/wallets/{provider}/{wallet_id}", headers=headers, timeout=5)
        answer.raise_for_status()
        return int(answer.json()["debitedMinor"])


@pytest.fixture
def conformance_rail_name() -> str:
    return "wallet"


@pytest.fixture
def conformance_requirements() -> RailRequirements:
    return WalletRequirements()


@pytest.fixture
def conformance_scenarios() -> RailScenarios:
    return WalletScenarios()


# --- fixtures of the wallet rail's own tests --------------------------------------------------------


@pytest.fixture(scope="module")
def wallet_sandbox() -> Iterator[tuple[WalletSandbox, str]]:
    sandbox = WalletSandbox({"api_key": API_KEY, "sandbox_slow_seconds": "1"})
    url = sandbox.start("127.0.0.1", 0)
    yield sandbox, url
    sandbox.stop()


@pytest.fixture
def wallet_rail(wallet_sandbox: tuple[WalletSandbox, str]) -> Iterator[WalletRail]:
    rail = WalletRail(WalletSettings(psp_url=wallet_sandbox[1], api_key=API_KEY, timeout_seconds=2.0))
    yield rail
    rail.close()
