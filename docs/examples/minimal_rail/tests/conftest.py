"""Tell the conformance suite which rail this is, what it supports and how its sandbox behaves."""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

import httpx
import pytest
from flosspay_conformance import InvalidInput, RailRequirements, RailScenarios

from flosspay.railapi import Money, RailRequest

API_KEY = "sk-minimal-conformance-0123456789"


class MinimalRequirements(RailRequirements):
    @property
    def refunds(self) -> bool:
        return True

    @property
    def partial_refunds(self) -> bool:
        return True


class MinimalScenarios(RailScenarios):
    amount = Money(2_500, "INR")
    api_key = API_KEY  # given to the rail and its sandbox, and looked for wherever a secret must not be
    sandbox_options = MappingProxyType({"sandbox_slow_seconds": "1"})

    def valid(self, case: str) -> Mapping[str, Any]:
        return {"account": f"alice-{case}"}

    def invalid(self) -> list[InvalidInput]:
        return [
            InvalidInput({"account": "No Spaces Allowed"}, field="account"),
            InvalidInput({"account": "alice", "extra": 1}, why="unknown fields are refused"),
        ]

    def declined(self, case: str) -> Mapping[str, Any]:
        return {"account": f"decline-{case}"}

    def transient(self, case: str) -> Mapping[str, Any]:
        return {"account": f"busy-{case}"}

    def uncertain(self, case: str) -> Mapping[str, Any]:
        return {"account": f"unsure-{case}"}

    def slow(self, case: str) -> Mapping[str, Any]:
        return {"account": f"slow-{case}"}

    def charged_minor(self, psp_url: str, request: RailRequest) -> int:
        account = request.details["account"]
        answer = httpx.get(f"{psp_url}/accounts/{account}", headers={"Authorization": f"Bearer {API_KEY}"})
        return int(answer.json()["charged"])


@pytest.fixture
def conformance_rail_name() -> str:
    return "minimal"


@pytest.fixture
def conformance_requirements() -> RailRequirements:
    return MinimalRequirements()


@pytest.fixture
def conformance_scenarios() -> RailScenarios:
    return MinimalScenarios()
