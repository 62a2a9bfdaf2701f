"""The card rail: checks card rules, swaps the card for the PSP's token, then charges the token.

PCI scope stays at the edge: ``prepare`` sends the card (number, expiry, CVV) to the PSP's
tokenisation endpoint once and keeps only the answer: the token, the scheme, the last four digits
and the expiry. FlossPay's payment id is the PSP's charge reference, so the PSP's duplicate check
makes ``execute`` exactly-once.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, date, datetime
from typing import Any, ClassVar
from urllib.parse import quote

import msgspec
from flosspay_card.cards import LENGTHS, Scheme, cvv_length, luhn_valid, normalise, scheme_of
from flosspay_card.fields import CardDetails, CardFields, CardPublic
from flosspay_card.settings import CardSettings

from flosspay.railapi import (
    FieldError,
    Flow,
    Money,
    NoAnswer,
    Outcome,
    PreparedPayment,
    PspAnswer,
    PspAnswers,
    PspTransport,
    RailRequest,
    RailResult,
    RefundResult,
    ServiceUnavailable,
    ValidationFailed,
    never_raises,
    reference_refusal,
    refund_refusal,
)

log = logging.getLogger(__name__)

MAX_EXPIRY_YEARS = 20
MAX_HOLDER_NAME = 100
_TOKEN_FIELDS = {"number": "card.number", "cvv": "card.cvv", "expiryMonth": "card.expiryMonth"}


class CardServiceUnavailable(ServiceUnavailable):
    """The PSP could not tokenise the card right now; the client may simply retry (HTTP 503)."""


class CardRail:
    """Card payments (PAY only). One instance per process; every method is thread-safe."""

    name: ClassVar[str] = "card"
    method: ClassVar[str] = "CARD"
    flows: ClassVar[frozenset[Flow]] = frozenset({Flow.PAY})
    request_type: ClassVar[type[msgspec.Struct]] = CardFields
    refunds: ClassVar[bool] = True  # as its conformance requirements declare
    partial_refunds: ClassVar[bool] = True
    public_type: ClassVar[type[msgspec.Struct]] = CardPublic

    def __init__(self, settings: CardSettings, today: Callable[[], date] = lambda: datetime.now(UTC).date()) -> None:
        self.settings = settings
        self._today = today
        self._psp = PspTransport(
            settings.psp_url,
            timeout_seconds=settings.timeout_seconds,
            api_key=settings.api_key,
            user_agent="flosspay-card",
        )

    def __repr__(self) -> str:
        return f"CardRail(psp_url={self.settings.psp_url!r}, timeout={self.settings.timeout_seconds}s)"

    def close(self) -> None:
        self._psp.close()

    # --- validation and tokenisation -----------------------------------------------------------

    def prepare(self, fields: msgspec.Struct, amount: Money, flow: Flow) -> PreparedPayment:
        """Check every card rule at once, then tokenise; details keep no card number and no CVV."""
        if not isinstance(fields, CardFields):
            raise ValidationFailed([FieldError("card", "expected a card object")])
        card = fields.card
        errors: list[FieldError] = []
        digits, scheme = _check_number(card.number, errors)
        _check_expiry(card, self._today(), errors)
        if not card.cvv.isascii() or not card.cvv.isdigit() or len(card.cvv) not in cvv_length(scheme):
            wanted = " or ".join(str(n) for n in sorted(cvv_length(scheme)))
            errors.append(FieldError("card.cvv", f"must be {wanted} digits"))
        if card.holder_name is not None and not 0 < len(card.holder_name.strip()) <= MAX_HOLDER_NAME:
            errors.append(FieldError("card.holderName", f"must be 1-{MAX_HOLDER_NAME} characters when given"))
        if amount.currency not in self.settings.currencies:
            errors.append(FieldError("currency", f"cards are not accepted in {amount.currency!r} here"))
        if flow is not Flow.PAY:
            errors.append(FieldError("flow", "card payments support pay only"))
        if errors or digits is None or scheme is None:
            raise ValidationFailed(errors)
        token = self._tokenise(digits, card)
        last4 = digits[-4:]
        details = {
            "pan_token": token,
            "scheme": scheme.value,
            "last4": last4,
            "expiry": f"{card.expiry_year:04d}-{card.expiry_month:02d}",
        }
        log.debug("card tokenised: %s ****%s", scheme.value, last4)
        return PreparedPayment(
            details=details,
            public={"card": {"scheme": scheme.value, "last4": last4}},
            payer_account=("token", token),  # card:token:<PSP token>, never the card number; the merchant is paid
        )

    def _tokenise(self, digits: str, card: CardDetails) -> str:
        payload: dict[str, Any] = {
            "number": digits,
            "expiryMonth": card.expiry_month,
            "expiryYear": card.expiry_year,
            "cvv": card.cvv,
        }
        if card.holder_name:
            payload["holderName"] = card.holder_name.strip()
        answer = self._psp.request("POST", "/v1/tokens", payload)  # the CVV goes no further than this request
        if isinstance(answer, PspAnswer) and answer.http_status in (200, 201):
            token = answer.text("token")
            if token:
                return token
        if isinstance(answer, PspAnswer) and answer.http_status in (400, 422):
            field = _TOKEN_FIELDS.get(str(answer.body.get("field")), "card")
            raise ValidationFailed([FieldError(field, "was refused by the card processor")])
        reason = answer.reason if isinstance(answer, NoAnswer) else f"HTTP {answer.http_status}"
        log.warning("card tokenisation failed: %s", reason)
        raise CardServiceUnavailable("the card processor is unavailable right now; try again shortly")

    # --- payments --------------------------------------------------------------------------------

    @never_raises(RailResult, rail="card")
    def execute(self, request: RailRequest) -> RailResult:
        """Charge the token; the PSP answers a repeated reference with the first charge."""
        token = request.details.get("pan_token")
        if not isinstance(token, str) or not token:
            return RailResult(Outcome.DECLINED, "INVALID_DETAILS", "the payment holds no card token")
        refused = reference_refusal(request.reference)
        if refused is not None:
            return refused
        payload = {
            "reference": request.reference,
            "token": token,
            "amountMinor": request.amount.minor,
            "currency": request.amount.currency,
        }
        result = _charge_result(self._psp.request("POST", "/v1/charges", payload), on_status_query=False)
        log.info("card charge %s: %s %s", request.reference, result.outcome.value, result.code)
        return result

    @never_raises(RailResult, rail="card")
    def status(self, request: RailRequest) -> RailResult:
        path = f"/v1/charges/{quote(request.reference, safe='')}"
        return _charge_result(self._psp.request("GET", path), on_status_query=True)

    @never_raises(RefundResult, rail="card")
    def refund(self, request: RailRequest, amount: Money, refund_reference: str) -> RefundResult:
        """Refund part or all of a charge; the PSP keeps the refunds of one charge within its amount."""
        refused = refund_refusal(request, amount, refund_reference)
        if refused is not None:
            return refused
        path = f"/v1/charges/{quote(request.reference, safe='')}/refunds"
        payload = {"refundReference": refund_reference, "amountMinor": amount.minor, "currency": amount.currency}
        result = _refund_result(self._psp.request("POST", path, payload))
        log.info("card refund %s of %s: %s %s", refund_reference, request.reference, result.outcome.value, result.code)
        return result


def _check_number(raw: str, errors: list[FieldError]) -> tuple[str | None, Scheme | None]:
    digits = normalise(raw)
    if digits is None or not 12 <= len(digits) <= 19:
        errors.append(FieldError("card.number", "must be 12-19 digits (spaces allowed)"))
        return None, None
    if not luhn_valid(digits):
        errors.append(FieldError("card.number", "is not a valid card number (check digit)"))
        return None, None
    scheme = scheme_of(digits)
    if scheme is None:
        errors.append(FieldError("card.number", "is not a Visa, Mastercard, RuPay or American Express card"))
        return None, None
    if len(digits) not in LENGTHS[scheme]:
        errors.append(FieldError("card.number", f"has the wrong length for a {scheme.value} card"))
        return None, None
    return digits, scheme


def _check_expiry(card: CardDetails, today: date, errors: list[FieldError]) -> None:
    """Valid through the last day of the expiry month; at most 20 years ahead."""
    if not 1 <= card.expiry_month <= 12:
        errors.append(FieldError("card.expiryMonth", "must be 1-12"))
        return
    if not today.year <= card.expiry_year <= today.year + MAX_EXPIRY_YEARS:
        message = "has passed: the card has expired" if card.expiry_year < today.year else "is too far ahead"
        errors.append(FieldError("card.expiryYear", message))
        return
    if (card.expiry_year, card.expiry_month) < (today.year, today.month):
        errors.append(FieldError("card.expiryMonth", "has passed: the card has expired"))


_ANSWERS = PspAnswers(
    outcomes={"succeeded": Outcome.COMPLETED, "declined": Outcome.DECLINED, "requires_action": Outcome.ACTION_REQUIRED},
    id_field="chargeId",
    noun="charge",
    credentials="FLOSSPAY_CARD_API_KEY",
)
_charge_result = _ANSWERS.payment
_refund_result = _ANSWERS.refund
