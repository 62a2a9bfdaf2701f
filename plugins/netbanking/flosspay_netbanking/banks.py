"""The banks a payer may choose (IFSC bank codes), and the sandbox's test banks.

One table, used by the rail's validation, the sandbox gateway and the README.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

BANKS: dict[str, str] = {
    "HDFC": "HDFC Bank",
    "ICIC": "ICICI Bank",
    "SBIN": "State Bank of India",
    "UTIB": "Axis Bank",
    "KKBK": "Kotak Mahindra Bank",
}
"""Bank codes accepted by default (``FLOSSPAY_NETBANKING_BANKS`` changes the list)."""


class Behaviour(enum.Enum):
    CUSTOMER = "customer"  # the customer decides on the bank's page (every real bank code)
    APPROVE = "approve"
    DECLINE = "decline"
    BUSY = "busy"
    UNCERTAIN = "uncertain"
    SLOW = "slow"
    AUTO = "auto"


@dataclass(frozen=True, slots=True)
class TestBank:
    code: str
    behaviour: Behaviour
    meaning: str


TEST_BANKS: dict[str, TestBank] = {
    bank.code: bank
    for bank in (
        TestBank("XAPR", Behaviour.APPROVE, "approved at once, no redirect (a pre-authorised payer)"),
        TestBank("XDEC", Behaviour.DECLINE, "declined at once: DECLINED `BANK_DECLINED`"),
        TestBank("XBSY", Behaviour.BUSY, "gateway busy (HTTP 503), nothing recorded: TRANSIENT"),
        TestBank("XERR", Behaviour.UNCERTAIN, "approved, but the gateway answers HTTP 500: UNCERTAIN, then COMPLETED"),
        TestBank("XSLW", Behaviour.SLOW, "approved, answered after a delay (the rail times out)"),
        TestBank("XAUT", Behaviour.AUTO, "redirect; the simulated customer approves after a delay"),
    )
}
"""Sandbox-only codes; a rail accepts them only when ``FLOSSPAY_NETBANKING_BANKS`` lists them."""


def behaviour_of(code: str) -> Behaviour:
    bank = TEST_BANKS.get(code)
    return bank.behaviour if bank is not None else Behaviour.CUSTOMER


def bank_name(code: str) -> str:
    if code in BANKS:
        return BANKS[code]
    return f"Test bank {code}" if code in TEST_BANKS else code
