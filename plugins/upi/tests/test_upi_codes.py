"""The NPCI code table: what each PSP answer means for FlossPay."""

from __future__ import annotations

import pytest
from flosspay_upi import codes

from flosspay.railapi import Flow, Outcome

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    ("code", "flow", "outcome"),
    [
        ("00", Flow.PAY, Outcome.COMPLETED),
        ("00", Flow.COLLECT, Outcome.COMPLETED),
        ("01", Flow.COLLECT, Outcome.PENDING),
        ("Z9", Flow.PAY, Outcome.DECLINED),
        ("U30", Flow.PAY, Outcome.DECLINED),
        ("ZM", Flow.PAY, Outcome.DECLINED),
        ("U16", Flow.COLLECT, Outcome.DECLINED),
        ("U01", Flow.PAY, Outcome.DECLINED),
        ("ZA", Flow.COLLECT, Outcome.PAYER_DECLINED),
        ("ZA", Flow.PAY, Outcome.DECLINED),
        ("U69", Flow.COLLECT, Outcome.EXPIRED),
        ("UP", Flow.PAY, Outcome.TRANSIENT),
        ("RB", Flow.PAY, Outcome.UNCERTAIN),
        ("XY", Flow.PAY, Outcome.UNCERTAIN),  # unknown: money may have moved
    ],
)
def test_payment_codes_map_to_outcomes(code: str, flow: Flow, outcome: Outcome) -> None:
    assert codes.payment_outcome(code, flow) is outcome


@pytest.mark.parametrize(
    ("code", "outcome"),
    [
        ("00", Outcome.COMPLETED),
        ("UP", Outcome.TRANSIENT),
        ("RB", Outcome.UNCERTAIN),
        ("U04", Outcome.NOT_FOUND),
        ("U02", Outcome.DECLINED),
        ("U10", Outcome.DECLINED),
        ("XY", Outcome.DECLINED),
    ],
)
def test_refund_codes_map_to_outcomes(code: str, outcome: Outcome) -> None:
    assert codes.refund_outcome(code) is outcome


def test_every_known_code_has_a_reason_and_unknown_ones_are_named() -> None:
    assert codes.reason("Z9") == "insufficient funds in the payer's account"
    assert codes.reason("Q7") == "PSP answered code Q7"
