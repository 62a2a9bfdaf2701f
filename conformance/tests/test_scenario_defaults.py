"""RailScenarios' defaults: a rail's test config says only what differs."""

from __future__ import annotations

from types import MappingProxyType

import pytest
from flosspay_conformance import RailScenarios

pytestmark = pytest.mark.unit


class Keyed(RailScenarios):
    api_key = "sk_test_0123456789"
    rail_options = MappingProxyType({"banks": "HDFC"})
    sandbox_options = MappingProxyType({"sandbox_slow_seconds": "1"})


def test_the_api_key_and_options_reach_the_rail_the_sandbox_and_the_secret_checks() -> None:
    keyed = Keyed()
    assert keyed.settings("http://psp", 0.5) == {
        "psp_url": "http://psp",
        "timeout_seconds": "0.5",
        "banks": "HDFC",
        "api_key": "sk_test_0123456789",
    }
    assert keyed.sandbox_settings() == {"sandbox_slow_seconds": "1", "api_key": "sk_test_0123456789"}
    assert list(keyed.secrets({})) == ["sk_test_0123456789"]


def test_without_a_key_nothing_is_added() -> None:
    plain = RailScenarios()
    assert plain.settings("http://psp", 1.5) == {"psp_url": "http://psp", "timeout_seconds": "1.5"}
    assert plain.sandbox_settings() == {} and list(plain.secrets({})) == []
    assert (plain.timeout_seconds, plain.settle_seconds, plain.timeout_margin_seconds) == (0.5, 3.0, 1.0)
