"""What a rail refuses without asking its PSP: references a PSP cannot take, and refunds that cannot be right.

Refusing these locally gives the same answer every time, and spends no PSP call on a request that
can only fail.
"""

from __future__ import annotations

from flosspay.domain.money import Money
from flosspay.domain.rail import Outcome, RailRequest, RailResult, RefundResult

MAX_REFERENCE_LENGTH = 128


def reference_refusal(reference: str, *, max_length: int = MAX_REFERENCE_LENGTH) -> RailResult | None:
    """DECLINED ``INVALID_REFERENCE`` when ``reference`` is empty or longer than the PSP takes, else None."""
    if 0 < len(reference) <= max_length:
        return None
    return RailResult(Outcome.DECLINED, "INVALID_REFERENCE", f"reference must be 1-{max_length} characters")


def refund_refusal(
    request: RailRequest,
    amount: Money,
    refund_reference: str,
    *,
    max_reference_length: int = MAX_REFERENCE_LENGTH,
    exceeds_code: str = "EXCEEDS_AMOUNT",
) -> RefundResult | None:
    """DECLINED when the refund is impossible on its face, else None (the PSP then decides).

    Refused: a malformed refund reference (``INVALID_REFERENCE``), another currency than the
    payment's (``CURRENCY_MISMATCH``), nothing to refund (``INVALID_AMOUNT``), more than the
    payment (``exceeds_code``). Whether earlier refunds leave room is the PSP's to say.
    """
    if not 0 < len(refund_reference) <= max_reference_length:
        reason = f"refund reference must be 1-{max_reference_length} characters"
        return RefundResult(Outcome.DECLINED, "INVALID_REFERENCE", reason)
    if amount.currency != request.amount.currency:
        return RefundResult(Outcome.DECLINED, "CURRENCY_MISMATCH", "refund currency differs from the payment's")
    if amount.minor <= 0:
        return RefundResult(Outcome.DECLINED, "INVALID_AMOUNT", "refund amount must be greater than zero")
    if amount.minor > request.amount.minor:
        return RefundResult(Outcome.DECLINED, exceeds_code, "refund amount exceeds the payment amount")
    return None


def as_refund(result: RailResult) -> RefundResult:
    """A payment-shaped result as a refund's (for PSPs that answer both alike)."""
    return RefundResult(result.outcome, result.code, result.reason)
