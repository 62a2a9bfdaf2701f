"""SettingsReader: typed rail settings, each problem one line naming FLOSSPAY_<RAIL>_<KEY>, secrets never echoed."""

from __future__ import annotations

import pytest

from flosspay.railkit import RailSettingsError, SettingsReader

pytestmark = pytest.mark.unit

SECRET = "sk_live_never_echo_me_91c2"


class ShopSettingsError(RailSettingsError):
    """A rail's own error class, as rails declare them."""


def reader(**settings: str) -> SettingsReader:
    return SettingsReader(settings, rail="shop", error=ShopSettingsError)


def refusal(call: object) -> str:
    """The one-line message of the ShopSettingsError that ``call`` raises."""
    assert callable(call)
    with pytest.raises(ShopSettingsError) as refused:
        call()
    message = str(refused.value)
    assert "\n" not in message
    return message


def test_variables_are_named_after_the_rail_and_key() -> None:
    assert reader().variable("timeout_seconds") == "FLOSSPAY_SHOP_TIMEOUT_SECONDS"
    assert SettingsReader({}, rail="upi").variable("psp_url") == "FLOSSPAY_UPI_PSP_URL"


def test_errors_are_value_errors_and_by_default_the_kits_own_class() -> None:
    assert issubclass(RailSettingsError, ValueError)
    with pytest.raises(RailSettingsError, match=r"^FLOSSPAY_X_PSP_URL is required"):
        SettingsReader({}, rail="x").psp_url()


def test_empty_values_count_as_unset() -> None:
    read = reader(timeout_seconds="", api_key="", name="x")
    assert read.raw("timeout_seconds") is None
    assert read.raw("missing") is None
    assert read.raw("name") == "x"
    assert read.seconds("timeout_seconds", 7.0) == 7.0
    assert read.secret(default="fallback") == "fallback"


def test_a_psp_url_loses_its_trailing_slash() -> None:
    assert reader(psp_url="https://psp.example/v2/").psp_url() == "https://psp.example/v2"
    assert reader(psp_url="http://127.0.0.1:8402").psp_url() == "http://127.0.0.1:8402"
    assert reader(base="http://[::1]:9/").psp_url("base") == "http://[::1]:9"


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (None, "FLOSSPAY_SHOP_PSP_URL is required (the PSP's base URL)"),
        ("ftp://psp.example", "FLOSSPAY_SHOP_PSP_URL must be an http(s) URL with a host"),
        ("psp.example", "FLOSSPAY_SHOP_PSP_URL must be an http(s) URL with a host"),
        ("https://", "FLOSSPAY_SHOP_PSP_URL must be an http(s) URL with a host"),
        ("https://user:pw@psp.example", "FLOSSPAY_SHOP_PSP_URL must not carry credentials, a query or a fragment"),
        ("https://psp.example/?key=1", "FLOSSPAY_SHOP_PSP_URL must not carry credentials, a query or a fragment"),
        ("https://psp.example/#x", "FLOSSPAY_SHOP_PSP_URL must not carry credentials, a query or a fragment"),
    ],
)
def test_unusable_psp_urls_are_refused(value: str | None, message: str) -> None:
    read = reader() if value is None else reader(psp_url=value)
    assert refusal(read.psp_url) == message


def test_a_psp_url_with_credentials_is_not_echoed() -> None:
    assert SECRET not in refusal(reader(psp_url=f"ftp://u:{SECRET}@psp.example").psp_url)
    assert "the card PSP" in refusal(lambda: reader().psp_url(what="the card PSP"))


@pytest.mark.parametrize(("value", "expected"), [("2", 2.0), ("0.25", 0.25), (" 3 ", 3.0), ("300", 300.0)])
def test_seconds_are_parsed(value: str, expected: float) -> None:
    assert reader(timeout_seconds=value).seconds("timeout_seconds", 10.0) == expected


@pytest.mark.parametrize("value", ["0", "-1", "soon", "nan", "inf", "-inf", "300.5", "1e9"])
def test_unusable_timeouts_are_refused(value: str) -> None:
    message = refusal(lambda: reader(timeout_seconds=value).seconds("timeout_seconds", 10.0))
    assert message == f"FLOSSPAY_SHOP_TIMEOUT_SECONDS must be a positive number of seconds, at most 300, got {value!r}"


def test_zero_seconds_may_be_allowed_but_never_negative_ones() -> None:
    assert reader(delay="0").seconds("delay", 1.0, allow_zero=True) == 0.0
    message = refusal(lambda: reader(delay="-0.5").seconds("delay", 1.0, allow_zero=True))
    assert message.startswith("FLOSSPAY_SHOP_DELAY must be a number of seconds >= 0")


def test_the_maximum_can_be_chosen() -> None:
    assert reader(wait="3600").seconds("wait", 1.0, maximum=86400) == 3600.0
    assert "at most 60" in refusal(lambda: reader(wait="61").seconds("wait", 1.0, maximum=60))


def test_secrets_are_read_and_defaulted() -> None:
    assert reader(api_key=SECRET).secret() == SECRET
    assert reader().secret() is None
    assert reader().secret(default="sk_test") == "sk_test"
    assert reader(token=SECRET).secret("token") == SECRET


@pytest.mark.parametrize("value", [f" {SECRET}", f"{SECRET}\n", f"{SECRET}\x00", f"sk {SECRET}"])
def test_malformed_secrets_are_refused_without_echoing_them(value: str) -> None:
    message = refusal(reader(api_key=value).secret)
    assert message == "FLOSSPAY_SHOP_API_KEY must not contain spaces or control characters"
    assert SECRET not in message


def test_currencies_are_upper_cased_and_default_to_every_known_one() -> None:
    assert reader(currencies="inr, usd ,JPY").currencies() == {"INR", "USD", "JPY"}
    assert {"INR", "USD", "EUR", "JPY"} <= reader().currencies()
    assert reader().currencies(default={"INR"}) == {"INR"}
    assert reader(currencies="  ").currencies(default={"INR"}) == {"INR"}


def test_unknown_or_missing_currencies_are_refused() -> None:
    assert refusal(reader(currencies="INR,XYZ,ABC").currencies) == (
        "FLOSSPAY_SHOP_CURRENCIES lists unknown currencies ['ABC', 'XYZ']"
    )
    assert refusal(reader(currencies=" , ").currencies).startswith("FLOSSPAY_SHOP_CURRENCIES must list at least one")


def test_fail_raises_the_rails_error_naming_the_variable() -> None:
    assert refusal(lambda: reader().fail("providers", "must be lower-case")) == (
        "FLOSSPAY_SHOP_PROVIDERS must be lower-case"
    )
