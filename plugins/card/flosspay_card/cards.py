"""Card number rules (Luhn, scheme by BIN, lengths) and masking: pure functions, no I/O."""

from __future__ import annotations

import enum


class Scheme(enum.StrEnum):
    VISA = "visa"
    MASTERCARD = "mastercard"
    AMEX = "amex"
    RUPAY = "rupay"


LENGTHS: dict[Scheme, frozenset[int]] = {
    Scheme.VISA: frozenset({13, 16, 19}),
    Scheme.MASTERCARD: frozenset({16}),
    Scheme.AMEX: frozenset({15}),
    Scheme.RUPAY: frozenset({16}),
}

# RuPay's published BIN ranges (six digits, inclusive); checked before the others.
_RUPAY_RANGES = ((508500, 508999), (606985, 607984), (608001, 608500), (652150, 653149), (817200, 820199))


def normalise(number: str) -> str | None:
    """The digits of a card number typed with optional spaces or hyphens; None if anything else is in it."""
    digits = number.replace(" ", "").replace("-", "")
    return digits if digits.isascii() and digits.isdigit() else None


def luhn_valid(digits: str) -> bool:
    """The ISO/IEC 7812 check digit: catches every single-digit typo and most swaps."""
    total = 0
    for position, char in enumerate(reversed(digits)):
        value = int(char)
        if position % 2 == 1:
            value = value * 2 - 9 if value > 4 else value * 2
        total += value
    return total % 10 == 0


def scheme_of(digits: str) -> Scheme | None:
    """The card scheme from the number's leading digits (its BIN), or None if not one FlossPay takes."""
    if len(digits) >= 6 and any(low <= int(digits[:6]) <= high for low, high in _RUPAY_RANGES):
        return Scheme.RUPAY
    if digits[:2] in ("34", "37"):
        return Scheme.AMEX
    if len(digits) >= 4 and (51 <= int(digits[:2]) <= 55 or 2221 <= int(digits[:4]) <= 2720):
        return Scheme.MASTERCARD
    if digits.startswith("4"):
        return Scheme.VISA
    return None


def cvv_length(scheme: Scheme | None) -> frozenset[int]:
    """Amex prints a four-digit code; the others three."""
    if scheme is None:
        return frozenset({3, 4})
    return frozenset({4}) if scheme is Scheme.AMEX else frozenset({3})


def mask(number: str) -> str:
    """What a log or repr may show of a card number: its last four characters, only if it is long."""
    return f"****{number[-4:]}" if len(number) >= 12 else "****"
