"""The request fields decode strictly and never show the card number or CVV in a repr."""

from __future__ import annotations

import msgspec
import pytest
from flosspay_card.fields import CardDetails, CardFields

pytestmark = pytest.mark.unit

PAN = "4111111111111111"
CVV = "9731"
RAW = {"card": {"number": PAN, "expiryMonth": 4, "expiryYear": 2031, "cvv": CVV, "holderName": "Asha Rao"}}


def _texts(fields: CardFields) -> list[str]:
    rich = [repr(value) for _, value in fields.card.__rich_repr__()]
    return [repr(fields), str(fields), f"{fields}", repr(fields.card), str([fields]), *rich]


def test_fields_decode_from_camel_case() -> None:
    fields = msgspec.convert(RAW, CardFields)
    assert fields.card.number == PAN
    assert (fields.card.expiry_month, fields.card.expiry_year, fields.card.holder_name) == (4, 2031, "Asha Rao")


def test_repr_masks_the_number_and_hides_the_cvv() -> None:
    fields = msgspec.convert(RAW, CardFields)
    for text in _texts(fields):
        assert PAN not in text
        assert CVV not in text
    assert "****1111" in repr(fields)


def test_unknown_fields_are_refused() -> None:
    with pytest.raises(msgspec.ValidationError, match="pin"):
        msgspec.convert({"card": {**RAW["card"], "pin": "1234"}}, CardFields)


def test_decode_errors_name_the_field_but_not_the_value() -> None:
    with pytest.raises(msgspec.ValidationError) as refused:
        msgspec.convert({"card": {**RAW["card"], "expiryMonth": PAN}}, CardFields)
    assert "$.card.expiryMonth" in str(refused.value)
    assert PAN not in str(refused.value)


def test_holder_name_is_optional() -> None:
    details = {k: v for k, v in RAW["card"].items() if k != "holderName"}
    assert msgspec.convert(details, CardDetails).holder_name is None
