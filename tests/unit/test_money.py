from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from flosspay.domain.errors import ValidationFailed
from flosspay.domain.money import Money, parse_currency, parse_money

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    ("raw", "minor"),
    [
        ("28.00", 2800),
        ("28", 2800),
        ("28.5", 2850),
        ("0.01", 1),
        (Decimal("28.00"), 2800),
        (Decimal("0.10"), 10),
        (Decimal("1E+2"), 10000),
        (28, 2800),
        ("99999.99", 9999999),
    ],
)
def test_parses_exact_amounts(raw, minor):
    assert parse_money(raw, "INR") == Money(minor, "INR")


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ("0", "greater than zero"),
        ("0.00", "greater than zero"),
        (Decimal("-1"), "greater than zero"),
        (-5, "greater than zero"),
        ("28.001", "at most 2 decimal places"),
        (Decimal("28.000"), "at most 2 decimal places"),
        ("abc", "decimal number"),
        ("-1", "decimal number"),
        ("+1", "decimal number"),
        ("1e3", "decimal number"),
        (" 1", "decimal number"),
        ("1 ", "decimal number"),
        ("", "decimal number"),
        (".5", "decimal number"),
        ("5.", "decimal number"),
        ("1.2.3", "decimal number"),
        ("١٢", "decimal number"),
        (28.0, "exact number"),
        (True, "exact number"),
        (None, "decimal string or number"),
        ([1], "decimal string or number"),
        (Decimal("NaN"), "finite"),
        (Decimal("Infinity"), "finite"),
        ("10000000000000", "too large"),
    ],
)
def test_rejects_bad_amounts_with_field_error(raw, message):
    with pytest.raises(ValidationFailed) as err:
        parse_money(raw, "INR")
    assert err.value.errors[0].field == "amount"
    assert message in err.value.errors[0].message


def test_field_name_is_carried():
    with pytest.raises(ValidationFailed) as err:
        parse_money("x", "INR", field="refund.amount")
    assert err.value.errors[0].field == "refund.amount"


def test_largest_amount_below_limit_is_accepted():
    assert parse_money("9999999999999.99", "INR").minor == 10**15 - 1


def test_zero_decimal_currency():
    assert parse_money("500", "JPY") == Money(500, "JPY")
    with pytest.raises(ValidationFailed):
        parse_money("500.5", "JPY")
    assert Money(500, "JPY").format() == "500"


def test_three_decimal_currency():
    assert parse_money("1.234", "KWD") == Money(1234, "KWD")
    assert Money(1234, "KWD").format() == "1.234"


@pytest.mark.parametrize("currency", ["inr", "XXX", "", None, 5])
def test_unknown_currency(currency):
    with pytest.raises(ValidationFailed) as err:
        parse_currency(currency)
    assert err.value.errors[0].field == "currency"


@pytest.mark.parametrize(
    ("minor", "text"), [(2800, "28.00"), (1, "0.01"), (10, "0.10"), (0, "0.00"), (-150, "-1.50"), (123456, "1234.56")]
)
def test_format(minor, text):
    assert Money(minor, "INR").format() == text


def test_arithmetic_keeps_currency():
    assert Money(100, "INR") + Money(50, "INR") == Money(150, "INR")
    assert Money(100, "INR") - Money(50, "INR") == Money(50, "INR")
    assert -Money(100, "INR") == Money(-100, "INR")
    with pytest.raises(ValueError, match="INR with USD"):
        Money(1, "INR") + Money(1, "USD")
    with pytest.raises(ValueError):
        Money(1, "INR") - Money(1, "USD")


@given(st.integers(min_value=1, max_value=10**15 - 1))
def test_format_then_parse_round_trips(minor):
    money = Money(minor, "INR")
    assert parse_money(money.format(), "INR") == money
    assert parse_money(Decimal(money.format()), "INR") == money
