"""Money as integer minor units plus an ISO 4217 code; a float never holds money."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

import msgspec

from flosspay.domain.errors import FieldError, ValidationFailed

# ISO 4217 minor-unit exponents for the currencies FlossPay knows. Rails narrow this further.
CURRENCY_EXPONENTS: dict[str, int] = {
    "INR": 2,
    "USD": 2,
    "EUR": 2,
    "GBP": 2,
    "SGD": 2,
    "AED": 2,
    "JPY": 0,
    "KRW": 0,
    "KWD": 3,
    "BHD": 3,
}

_MAX_MINOR = 10**15  # well inside a signed 64-bit column and any PSP's limits


class Money(msgspec.Struct, frozen=True):
    """An exact amount: ``minor`` units (paise, cents) of ``currency``."""

    minor: int
    currency: str

    @property
    def exponent(self) -> int:
        return CURRENCY_EXPONENTS[self.currency]

    def format(self) -> str:
        """The amount as a decimal string with exactly the currency's decimals, e.g. ``"28.00"``."""
        exp = self.exponent
        sign = "-" if self.minor < 0 else ""
        units, frac = divmod(abs(self.minor), 10**exp)
        return f"{sign}{units}.{frac:0{exp}d}" if exp else f"{sign}{units}"

    def __add__(self, other: Money) -> Money:
        _same_currency(self, other)
        return Money(self.minor + other.minor, self.currency)

    def __sub__(self, other: Money) -> Money:
        _same_currency(self, other)
        return Money(self.minor - other.minor, self.currency)

    def __neg__(self) -> Money:
        return Money(-self.minor, self.currency)


def _same_currency(a: Money, b: Money) -> None:
    if a.currency != b.currency:
        raise ValueError(f"cannot combine {a.currency} with {b.currency}")


def parse_currency(value: object, field: str = "currency") -> str:
    """Validate an ISO 4217 code that FlossPay knows."""
    if not isinstance(value, str) or value not in CURRENCY_EXPONENTS:
        raise ValidationFailed([FieldError(field, f"unsupported currency {value!r}")])
    return value


def parse_money(value: object, currency: str, field: str = "amount") -> Money:
    """Parse ``"28.00"``, ``"28"``, ``Decimal("28.00")`` or ``28`` exactly; floats are refused.

    A JSON number must be decoded as ``Decimal`` (msgspec does this losslessly) so that no binary
    rounding ever touches an amount.
    """
    cur = parse_currency(currency)
    exp = CURRENCY_EXPONENTS[cur]
    if isinstance(value, (bool, float)):
        raise ValidationFailed([FieldError(field, "must be a decimal string or an exact number")])
    if isinstance(value, int):
        dec = Decimal(value)
    elif isinstance(value, Decimal):
        dec = value
    elif isinstance(value, str):
        text = value.strip()
        if not text or text != value or not _looks_decimal(text):
            raise ValidationFailed([FieldError(field, "must be a decimal number such as 28.00")])
        try:
            dec = Decimal(text)
        except InvalidOperation:
            raise ValidationFailed([FieldError(field, "must be a decimal number such as 28.00")]) from None
    else:
        raise ValidationFailed([FieldError(field, "must be a decimal string or number")])
    if not dec.is_finite():
        raise ValidationFailed([FieldError(field, "must be a finite number")])
    if dec <= 0:
        raise ValidationFailed([FieldError(field, "must be greater than zero")])
    exponent = dec.as_tuple().exponent
    assert isinstance(exponent, int)  # finite decimals have an int exponent
    if -exponent > exp:
        raise ValidationFailed([FieldError(field, f"must have at most {exp} decimal places")])
    if dec >= Decimal(_MAX_MINOR).scaleb(-exp):
        raise ValidationFailed([FieldError(field, "is too large")])
    minor = int(dec.scaleb(exp))
    return Money(minor, cur)


def _looks_decimal(text: str) -> bool:
    """Plain decimal notation only: digits, one optional point; no sign, exponent or spaces."""
    whole, _, frac = text.partition(".")
    if not whole or not whole.isdigit() or not whole.isascii():
        return False
    return (frac == "" and "." not in text) or (frac.isdigit() and frac.isascii())
