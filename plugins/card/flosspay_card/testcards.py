"""The sandbox's test cards: one table, used by the sandbox PSP and shown in the README.

Any other Luhn-valid number of a supported scheme simply succeeds.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass


class Behaviour(enum.Enum):
    APPROVE = "approve"
    DECLINE = "decline"
    THREE_D_SECURE = "3ds"
    TRANSIENT = "transient"
    UNCERTAIN = "uncertain"
    SLOW = "slow"
    WRONG_CVV = "wrong_cvv"
    NO_REFUND = "no_refund"


@dataclass(frozen=True, slots=True)
class SandboxCard:
    number: str
    behaviour: Behaviour
    code: str | None
    meaning: str


SUCCESS_CARDS = {
    "visa": "4111111111111111",
    "mastercard": "5555555555554444",
    "mastercard_2_series": "2223003122003222",
    "amex": "378282246310005",
    "rupay": "6521500000000006",
}

DECLINED = "4000000000000002"
INSUFFICIENT_FUNDS = "4000000000009995"
THREE_D_SECURE = "4000000000003220"
TRANSIENT = "4000000000000119"
UNCERTAIN = "4000000000000101"
SLOW = "4000000000000259"
WRONG_CVV = "4000000000000127"
NO_REFUND = "4000000000005126"

SPECIAL_CARDS: dict[str, SandboxCard] = {
    card.number: card
    for card in (
        SandboxCard(DECLINED, Behaviour.DECLINE, "05", "declined: do not honour"),
        SandboxCard(INSUFFICIENT_FUNDS, Behaviour.DECLINE, "51", "declined: insufficient funds"),
        SandboxCard(THREE_D_SECURE, Behaviour.THREE_D_SECURE, "3DS", "3-D Secure required; completes after a delay"),
        SandboxCard(TRANSIENT, Behaviour.TRANSIENT, None, "PSP unavailable (HTTP 503); nothing recorded"),
        SandboxCard(UNCERTAIN, Behaviour.UNCERTAIN, None, "charged, but the PSP answers HTTP 500"),
        SandboxCard(SLOW, Behaviour.SLOW, None, "charged, answered after a delay (the rail times out)"),
        SandboxCard(WRONG_CVV, Behaviour.WRONG_CVV, "incorrect_cvc", "tokenisation refuses the CVV"),
        SandboxCard(NO_REFUND, Behaviour.NO_REFUND, "refund_declined", "charged; every refund is declined"),
    )
}


def behaviour_of(number: str) -> SandboxCard | None:
    return SPECIAL_CARDS.get(number)
