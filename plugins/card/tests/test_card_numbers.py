"""Card number rules: Luhn, scheme by BIN, CVV lengths, masking."""

from __future__ import annotations

import pytest
from flosspay_card import testcards
from flosspay_card.cards import Scheme, cvv_length, luhn_valid, mask, normalise, scheme_of
from hypothesis import given
from hypothesis import strategies as st

pytestmark = pytest.mark.unit


def _with_check_digit(body: str) -> str:
    return next(body + d for d in "0123456789" if luhn_valid(body + d))


def test_every_documented_test_card_passes_luhn() -> None:
    numbers = [*testcards.SUCCESS_CARDS.values(), *testcards.SPECIAL_CARDS]
    assert all(luhn_valid(n) for n in numbers)


@pytest.mark.parametrize("number", ["4111111111111112", "5555555555554445", "378282246310006", "1"])
def test_luhn_rejects_a_wrong_check_digit(number: str) -> None:
    assert not luhn_valid(number)


@given(st.text(alphabet="0123456789", min_size=11, max_size=18), st.integers(min_value=0, max_value=17))
def test_changing_any_one_digit_breaks_luhn(body: str, where: int) -> None:
    number = _with_check_digit(body)
    position = where % len(number)
    changed = str((int(number[position]) + 1) % 10)
    assert luhn_valid(number)
    assert not luhn_valid(number[:position] + changed + number[position + 1 :])


@pytest.mark.parametrize(
    ("number", "scheme"),
    [
        ("4111111111111111", Scheme.VISA),
        ("5555555555554444", Scheme.MASTERCARD),
        ("5105105105105100", Scheme.MASTERCARD),
        ("2221000000000009", Scheme.MASTERCARD),
        ("2720999999999996", Scheme.MASTERCARD),
        ("2223003122003222", Scheme.MASTERCARD),
        ("378282246310005", Scheme.AMEX),
        ("341111111111111", Scheme.AMEX),
        ("6521500000000006", Scheme.RUPAY),
        ("5085000000000007", Scheme.RUPAY),
        ("8172000000000005", Scheme.RUPAY),
    ],
)
def test_scheme_comes_from_the_bin(number: str, scheme: Scheme) -> None:
    assert scheme_of(number) is scheme


@pytest.mark.parametrize("number", ["6011111111111117", "2220990000000000", "2721000000000000", "3530111333300000"])
def test_schemes_flosspay_does_not_take_have_none(number: str) -> None:
    assert scheme_of(number) is None


def test_rupay_ranges_win_over_mastercard_like_prefixes() -> None:
    assert scheme_of("5085000000000007") is Scheme.RUPAY  # 508500 is RuPay, not Mastercard (51-55)
    assert scheme_of("5084990000000000") is None


def test_cvv_length_is_four_for_amex_and_three_otherwise() -> None:
    assert cvv_length(Scheme.AMEX) == {4}
    assert cvv_length(Scheme.VISA) == {3}
    assert cvv_length(None) == {3, 4}


@pytest.mark.parametrize(
    ("raw", "digits"),
    [("4111 1111 1111 1111", "4111111111111111"), ("4111-1111-1111-1111", "4111111111111111"), ("41a1", None)],
)
def test_normalise_allows_spaces_and_hyphens_only(raw: str, digits: str | None) -> None:
    assert normalise(raw) == digits


def test_normalise_refuses_non_ascii_digits() -> None:
    assert normalise("\uff14\uff11\uff11\uff11") is None  # fullwidth digits: isdigit() but not ASCII


def test_mask_shows_the_last_four_of_long_numbers_only() -> None:
    assert mask("4111111111111111") == "****1111"
    assert mask("123") == "****"
