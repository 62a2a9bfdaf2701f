"""The UPI rail's declarations for the conformance suite (kept apart from the UPI tests' own conftest.py).

``test_conformance.py`` imports the three fixtures below, which tell the suite the rail's name, its
capabilities and its sandbox's test payers (the VPA prefix picks the behaviour).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import httpx
import pytest
from flosspay_conformance import InvalidInput, RailRequirements, RailScenarios
from flosspay_upi.vpa import MAX_VPA_LENGTH

from flosspay.railapi import Money, RailRequest

API_KEY = "sk_test_upi_conformance_5b7d20"
PAYEE = "shop@okaxis"


def upi(payer: str, payee: str = PAYEE) -> dict[str, Any]:
    """Raw request fields, as a merchant sends them."""
    return {"senderUpi": payer, "receiverUpi": payee}


class UpiRequirements(RailRequirements):
    @property
    def refunds(self) -> bool:
        return True

    @property
    def partial_refunds(self) -> bool:
        return True

    @property
    def collect(self) -> bool:
        return True


class UpiScenarios(RailScenarios):
    amount = Money(2_800, "INR")
    timeout_seconds = 0.5
    settle_seconds = 3.0

    def settings(self, psp_url: str, timeout_seconds: float) -> dict[str, str]:
        return {"psp_url": psp_url, "timeout": str(timeout_seconds), "api_key": API_KEY}

    def sandbox_settings(self) -> dict[str, str]:
        return {"api_key": API_KEY, "slow_seconds": "1.0", "collect_approve_seconds": "0.2"}

    largest_amount = Money(10_000_000, "INR")  # the rail's default limit

    def valid(self, case: str) -> Mapping[str, Any]:
        return upi(f"asha.{case}@okicici")

    def largest(self, case: str) -> Mapping[str, Any]:
        """Both addresses at the longest FlossPay records (``MAX_VPA_LENGTH``)."""
        payer = f"asha.{case}.".ljust(MAX_VPA_LENGTH - len("@okicici"), "x") + "@okicici"
        payee = "shop.".ljust(MAX_VPA_LENGTH - len("@okaxis"), "y") + "@okaxis"
        return upi(payer, payee)

    def invalid(self) -> list[InvalidInput]:
        return [
            InvalidInput(upi("not-a-vpa"), field="senderUpi", why="malformed VPA"),
            InvalidInput(upi(PAYEE), field="receiverUpi", why="payer and payee are the same account"),
            InvalidInput(upi("asha@okicici"), field="currency", amount=Money(2_800, "USD"), why="UPI is INR only"),
            InvalidInput(upi("asha@okicici"), field="amount", amount=Money(10_000_001, "INR"), why="over the limit"),
            InvalidInput({"senderUpi": "asha@okicici"}, why="receiverUpi missing"),
        ]

    def declined(self, case: str) -> Mapping[str, Any]:
        return upi(f"insufficient.{case}@okicici")

    def transient(self, case: str) -> Mapping[str, Any]:
        return upi(f"timeout.{case}@okicici")

    def uncertain(self, case: str) -> Mapping[str, Any]:
        return upi(f"deemed.{case}@okicici")

    def slow(self, case: str) -> Mapping[str, Any]:
        return upi(f"slow.{case}@okicici")

    def secrets(self, fields: Mapping[str, Any]) -> Iterable[str]:
        return [API_KEY]

    def charged_minor(self, psp_url: str, request: RailRequest) -> int:
        """Every debit the sandbox made from this payer, whatever reference the rail sent."""
        headers = {"Authorization": f"Bearer {API_KEY}"}
        answer = httpx.get(f"{psp_url}/v1/debits", headers=headers, timeout=5)
        answer.raise_for_status()
        payer = request.details["senderUpi"]
        return sum(int(d["amountMinor"]) for d in answer.json()["debits"] if d["payer"] == payer)


@pytest.fixture
def conformance_rail_name() -> str:
    return "upi"


@pytest.fixture
def conformance_requirements() -> RailRequirements:
    return UpiRequirements()


@pytest.fixture
def conformance_scenarios() -> RailScenarios:
    return UpiScenarios()
