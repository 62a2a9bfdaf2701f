"""Settings: one-line errors naming the variable; the API key never shown."""

from __future__ import annotations

import pytest
from flosspay_card.settings import SANDBOX_API_KEY, CardSettings, CardSettingsError

pytestmark = pytest.mark.unit


def test_defaults_point_at_the_sandbox_key_and_every_known_currency() -> None:
    settings = CardSettings.from_mapping({"psp_url": "http://127.0.0.1:8402/"})
    assert settings.psp_url == "http://127.0.0.1:8402"
    assert settings.api_key == SANDBOX_API_KEY
    assert settings.timeout_seconds == 10.0
    assert {"INR", "USD", "JPY"} <= settings.currencies


def test_values_are_parsed() -> None:
    settings = CardSettings.from_mapping(
        {"psp_url": "https://psp.example", "api_key": "sk_live_x1", "timeout_seconds": "2.5", "currencies": "inr, usd"}
    )
    assert (settings.timeout_seconds, settings.currencies) == (2.5, frozenset({"INR", "USD"}))


@pytest.mark.parametrize(
    ("settings", "variable"),
    [
        ({}, "FLOSSPAY_CARD_PSP_URL"),
        ({"psp_url": "ftp://psp"}, "FLOSSPAY_CARD_PSP_URL"),
        ({"psp_url": "https://user:pw@psp"}, "FLOSSPAY_CARD_PSP_URL"),
        ({"psp_url": "https://psp", "timeout_seconds": "soon"}, "FLOSSPAY_CARD_TIMEOUT_SECONDS"),
        ({"psp_url": "https://psp", "timeout_seconds": "0"}, "FLOSSPAY_CARD_TIMEOUT_SECONDS"),
        ({"psp_url": "https://psp", "timeout_seconds": "nan"}, "FLOSSPAY_CARD_TIMEOUT_SECONDS"),
        ({"psp_url": "https://psp", "currencies": "INR,XYZ"}, "FLOSSPAY_CARD_CURRENCIES"),
        ({"psp_url": "https://psp", "api_key": " spaced "}, "FLOSSPAY_CARD_API_KEY"),
    ],
)
def test_unusable_settings_name_the_variable_in_one_line(settings: dict[str, str], variable: str) -> None:
    with pytest.raises(CardSettingsError) as refused:
        CardSettings.from_mapping(settings)
    assert variable in str(refused.value)
    assert "\n" not in str(refused.value)


def test_repr_never_shows_the_api_key() -> None:
    settings = CardSettings.from_mapping({"psp_url": "https://psp", "api_key": "sk_live_supersecret"})
    assert "sk_live_supersecret" not in repr(settings)
