"""The card rail's declarations for the conformance suite, and fixtures for its own tests."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from datetime import UTC, datetime
from types import MappingProxyType
from typing import Any

import httpx
import pytest
from flosspay_card import testcards
from flosspay_card.rail import CardRail
from flosspay_card.sandbox import CardSandbox
from flosspay_card.settings import CardSettings
from flosspay_conformance import InvalidInput, RailRequirements, RailScenarios

from flosspay.railapi import Money, RailRequest

API_KEY = "sk_test_card_conformance_4f1c9a"
CVV = "737"
EXPIRY_YEAR = datetime.now(UTC).year + 3


def card(number: str, cvv: str = CVV, **extra: Any) -> dict[str, Any]:
    """Raw request fields for a card, as a merchant sends them."""
    details = {"number": number, "expiryMonth": 12, "expiryYear": EXPIRY_YEAR, "cvv": cvv, "holderName": "Asha Rao"}
    return {"card": details | extra}


class CardRequirements(RailRequirements):
    @property
    def refunds(self) -> bool:
        return True

    @property
    def partial_refunds(self) -> bool:
        return True

    @property
    def three_d_secure(self) -> bool:
        return True

    @property
    def next_action(self) -> bool:
        return True


class CardScenarios(RailScenarios):
    amount = Money(49_900, "INR")
    api_key = API_KEY
    sandbox_options = MappingProxyType({"sandbox_three_ds_seconds": "0.3", "sandbox_slow_seconds": "1.0"})

    def valid(self, case: str) -> Mapping[str, Any]:
        return card(testcards.SUCCESS_CARDS["visa"])

    def largest(self, case: str) -> Mapping[str, Any]:
        """The longest holder name the rail accepts (100 characters)."""
        return card(testcards.SUCCESS_CARDS["visa"], holderName="Asha " + "R" * 95)

    def invalid(self) -> list[InvalidInput]:
        return [
            InvalidInput(card("4111111111111112"), field="card.number", why="check digit wrong"),
            InvalidInput(card("6011111111111117"), field="card.number", why="Discover is not accepted"),
            InvalidInput(card("4111111111111111", expiryYear=2020), field="card.expiryYear", why="expired"),
            InvalidInput(card("4111111111111111", cvv="73"), field="card.cvv", why="two-digit CVV"),
            InvalidInput(card("378282246310005", cvv="737"), field="card.cvv", why="Amex needs four digits"),
            InvalidInput(card(testcards.WRONG_CVV), field="card.cvv", why="the PSP refuses the CVV"),
            InvalidInput(card("4111111111111111"), field="currency", amount=Money(100, "XYZ"), why="currency"),
            InvalidInput({"card": {"number": "4111111111111111"}}, why="expiry and CVV missing"),
        ]

    def declined(self, case: str) -> Mapping[str, Any]:
        return card(testcards.DECLINED)

    def transient(self, case: str) -> Mapping[str, Any]:
        return card(testcards.TRANSIENT)

    def uncertain(self, case: str) -> Mapping[str, Any]:
        return card(testcards.UNCERTAIN)

    def slow(self, case: str) -> Mapping[str, Any]:
        return card(testcards.SLOW)

    def action_required(self, case: str) -> Mapping[str, Any]:
        return card(testcards.THREE_D_SECURE)

    def secrets(self, fields: Mapping[str, Any]) -> Iterable[str]:
        details = fields.get("card") or {}
        return [*super().secrets(fields), *(str(details[k]) for k in ("number", "cvv") if k in details)]

    def charged_minor(self, psp_url: str, request: RailRequest) -> int:
        token = request.details["pan_token"]
        headers = {"Authorization": f"Bearer {API_KEY}"}
        answer = httpx.get(f"{psp_url}/v1/sandbox/tokens/{token}", headers=headers, timeout=5)
        answer.raise_for_status()
        return int(answer.json()["capturedMinor"])


@pytest.fixture
def conformance_rail_name() -> str:
    return "card"


@pytest.fixture
def conformance_requirements() -> RailRequirements:
    return CardRequirements()


@pytest.fixture
def conformance_scenarios() -> RailScenarios:
    return CardScenarios()


# --- fixtures of the card rail's own tests ----------------------------------------------------------


@pytest.fixture(scope="module")
def card_sandbox_url() -> Iterator[str]:
    sandbox = CardSandbox({"api_key": API_KEY, "sandbox_three_ds_seconds": "0.2", "sandbox_slow_seconds": "1"})
    url = sandbox.start("127.0.0.1", 0)
    yield url
    sandbox.stop()


@pytest.fixture
def card_rail(card_sandbox_url: str) -> Iterator[CardRail]:
    rail = CardRail(CardSettings(psp_url=card_sandbox_url, api_key=API_KEY, timeout_seconds=2.0))
    yield rail
    rail.close()
