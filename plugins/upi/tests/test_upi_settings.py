"""The rail's settings: defaults, one-line errors naming the variable, and the API key kept out of sight."""

from __future__ import annotations

import pytest
from flosspay_upi.rail import UpiRail
from flosspay_upi.settings import UpiSettings, UpiSettingsError

from flosspay.railapi import Money

pytestmark = pytest.mark.unit

SECRET = "sk_live_do_not_show_4242"


def test_defaults_apply_when_only_the_psp_url_is_given() -> None:
    settings = UpiSettings.from_mapping({"psp_url": "https://psp.example/upi/"})
    assert settings == UpiSettings(
        psp_url="https://psp.example/upi", timeout_seconds=10.0, max_amount=Money(10_000_000, "INR"), api_key=None
    )


def test_every_setting_is_read() -> None:
    settings = UpiSettings.from_mapping(
        {"psp_url": "http://127.0.0.1:8790", "timeout": "0.5", "max_amount": "2000", "api_key": SECRET}
    )
    assert (settings.timeout_seconds, settings.max_amount, settings.api_key) == (0.5, Money(200000, "INR"), SECRET)


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({}, "FLOSSPAY_UPI_PSP_URL is required"),
        ({"psp_url": "ftp://psp.example"}, "FLOSSPAY_UPI_PSP_URL must be an http(s) URL"),
        ({"psp_url": "psp.example"}, "FLOSSPAY_UPI_PSP_URL must be an http(s) URL"),
        ({"psp_url": "https://user:pw@psp.example"}, "FLOSSPAY_UPI_PSP_URL must not carry credentials"),
        ({"psp_url": "https://psp.example", "timeout": "0"}, "FLOSSPAY_UPI_TIMEOUT must be a positive number"),
        ({"psp_url": "https://psp.example", "timeout": "-1"}, "FLOSSPAY_UPI_TIMEOUT must be a positive number"),
        ({"psp_url": "https://psp.example", "timeout": "soon"}, "FLOSSPAY_UPI_TIMEOUT must be a positive number"),
        ({"psp_url": "https://psp.example", "timeout": "nan"}, "FLOSSPAY_UPI_TIMEOUT must be a positive number"),
        ({"psp_url": "https://psp.example", "timeout": "inf"}, "FLOSSPAY_UPI_TIMEOUT must be a positive number"),
        ({"psp_url": "https://psp.example", "max_amount": "0"}, "FLOSSPAY_UPI_MAX_AMOUNT must be a positive rupee"),
        ({"psp_url": "https://psp.example", "max_amount": "1.005"}, "FLOSSPAY_UPI_MAX_AMOUNT must be a positive"),
        ({"psp_url": "https://psp.example", "max_amount": "lakh"}, "FLOSSPAY_UPI_MAX_AMOUNT must be a positive"),
        ({"psp_url": "https://psp.example", "max_amount": "-5"}, "FLOSSPAY_UPI_MAX_AMOUNT must be a positive"),
        ({"psp_url": "https://psp.example", "max_amount": "NaN"}, "FLOSSPAY_UPI_MAX_AMOUNT must be a positive"),
        ({"psp_url": "https://psp.example", "max_amount": "1e20"}, "FLOSSPAY_UPI_MAX_AMOUNT must be a positive"),
    ],
)
def test_unusable_settings_are_refused_in_one_line(settings: dict[str, str], message: str) -> None:
    with pytest.raises(UpiSettingsError) as exc:
        UpiRail(settings)
    assert str(exc.value).startswith(message)
    assert "\n" not in str(exc.value)


def test_a_bad_api_key_is_refused_without_echoing_it() -> None:
    with pytest.raises(UpiSettingsError) as exc:
        UpiSettings.from_mapping({"psp_url": "https://psp.example", "api_key": f" {SECRET}\n"})
    assert "FLOSSPAY_UPI_API_KEY" in str(exc.value)
    assert SECRET not in str(exc.value)


def test_the_api_key_appears_in_no_repr() -> None:
    rail = UpiRail({"psp_url": "https://psp.example", "api_key": SECRET})
    assert SECRET not in repr(rail)
    assert SECRET not in repr(rail.settings)
    assert SECRET not in str(rail.settings)
    assert "psp.example" in repr(rail)


def test_settings_errors_are_value_errors_for_the_plugin_loader() -> None:
    assert issubclass(UpiSettingsError, ValueError)
