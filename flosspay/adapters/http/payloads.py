"""The JSON shapes clients send, as msgspec Structs: used both to check requests and to document them.

Amounts are typed ``Any`` on purpose: a JSON number arrives as an exact ``Decimal`` (see
``request_body``) or a string, and ``flosspay.domain.money.parse_money`` alone decides what is valid.
The ``extra_json_schema`` metadata only documents rules that the use cases enforce.
"""

from __future__ import annotations

from typing import Annotated, Any

import msgspec

from flosspay.application.accept_payment import MAX_NOTE_LENGTH
from flosspay.application.policies import IntakePolicy
from flosspay.domain.money import CURRENCY_EXPONENTS

_DEFAULT_COLLECT_MAX = IntakePolicy().collect_max_minutes

# The UPI shortcuts' documented address shape. The UPI rail holds the rule (flosspay_upi.vpa) and
# checks it again on every path; the core knows neither (the plugin depends on FlossPay, not the
# reverse), and tests/integration/http/test_upi_shortcuts.py pins these two to the rail's.
UPI_ADDRESS_PATTERN = r"^[a-zA-Z0-9._-]{2,256}@[a-zA-Z][a-zA-Z0-9]{1,63}$"
UPI_ADDRESS_MAX_LENGTH = 247
UPI_METHOD = "UPI"

Amount = Annotated[
    Any,
    msgspec.Meta(
        description="Amount in major units, exact: a decimal string (preferred) or a JSON number; "
        "at most as many decimals as the currency has (2 for INR). Never a float.",
        examples=["28.00"],
        extra_json_schema={
            "oneOf": [
                {"type": "string", "pattern": r"^[0-9]+(\.[0-9]+)?$"},
                {"type": "number", "exclusiveMinimum": 0},
            ]
        },
    ),
]
Currency = Annotated[
    str,
    msgspec.Meta(
        description="ISO 4217 code.",
        examples=["INR"],
        extra_json_schema={"enum": sorted(CURRENCY_EXPONENTS)},
    ),
]
Note = (
    Annotated[
        str,
        msgspec.Meta(
            description=f"Free text shown with the payment (at most {MAX_NOTE_LENGTH} characters).",
            extra_json_schema={"maxLength": MAX_NOTE_LENGTH},
        ),
    ]
    | None
)
UpiAddress = Annotated[
    str,
    msgspec.Meta(
        description="UPI Virtual Payment Address (name@bank).",
        examples=["alice@okbank"],
        max_length=UPI_ADDRESS_MAX_LENGTH,
        extra_json_schema={"pattern": UPI_ADDRESS_PATTERN},
    ),
]
ExpiresInMinutes = (
    Annotated[
        int,
        msgspec.Meta(
            description="How long the payer has to approve the collect request (default 30).",
            extra_json_schema={"minimum": 1, "maximum": _DEFAULT_COLLECT_MAX},
        ),
    ]
    | None
)
Method = Annotated[str, msgspec.Meta(description="Payment method of an enabled rail, e.g. UPI.", examples=["UPI"])]


class PayRequest(msgspec.Struct, frozen=True, forbid_unknown_fields=True, rename="camel"):
    """``POST /api/v1/pay``: push money from ``senderUpi`` to ``receiverUpi``."""

    sender_upi: UpiAddress
    receiver_upi: UpiAddress
    amount: Amount
    currency: Currency = "INR"
    note: Note = None


class CollectRequest(msgspec.Struct, frozen=True, forbid_unknown_fields=True, rename="camel"):
    """``POST /api/v1/collect``: ask ``senderUpi`` to approve paying ``receiverUpi``."""

    sender_upi: UpiAddress
    receiver_upi: UpiAddress
    amount: Amount
    currency: Currency = "INR"
    note: Note = None
    expires_in_minutes: ExpiresInMinutes = None


class PaymentHeader(msgspec.Struct, frozen=True, rename="camel"):
    """The rail-independent part of ``POST /api/v1/payments``; the rest belongs to the rail."""

    method: Method
    amount: Amount
    currency: Currency = "INR"
    note: Note = None


def upi_fields(request: PayRequest | CollectRequest) -> dict[str, str]:
    """A shortcut's addresses as the UPI rail's own fields, the way ``/payments`` carries them."""
    return {"senderUpi": request.sender_upi, "receiverUpi": request.receiver_upi}


PAYMENT_HEADER_FIELDS = frozenset({"method", "amount", "currency", "note"})
COLLECT_ONLY_FIELDS = frozenset({"expiresInMinutes"})
