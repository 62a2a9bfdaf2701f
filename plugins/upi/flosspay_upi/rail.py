"""The UPI rail: validates UPI requests and carries them out through a PSP's HTTP API.

The PSP is the one this distribution's sandbox imitates (``POST /v1/payments``, ``GET
/v1/payments/{reference}``, ``POST /v1/refunds``); FlossPay's payment id is the UPI transaction
reference, so the PSP's own duplicate check makes ``execute`` idempotent.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar
from urllib.parse import quote

import msgspec

from flosspay.railapi import (
    FieldError,
    Flow,
    Money,
    NoAnswer,
    Outcome,
    PreparedPayment,
    PspAnswer,
    PspTransport,
    RailRequest,
    RailResult,
    RefundResult,
    ValidationFailed,
    as_refund,
    never_raises,
    reference_refusal,
    refund_refusal,
)
from flosspay_upi import codes
from flosspay_upi.answers import UpiAnswer, read_answer
from flosspay_upi.fields import UpiFields, UpiPublic
from flosspay_upi.settings import UpiSettings
from flosspay_upi.vpa import Vpa

CURRENCY = "INR"


class UpiRail:
    """UPI pay and collect. One instance per process; every method is safe to call from many threads."""

    name: ClassVar[str] = "upi"
    method: ClassVar[str] = "UPI"
    flows: ClassVar[frozenset[Flow]] = frozenset({Flow.PAY, Flow.COLLECT})
    request_type: ClassVar[type[msgspec.Struct]] = UpiFields
    refunds: ClassVar[bool] = True  # as its conformance requirements declare
    partial_refunds: ClassVar[bool] = True
    public_type: ClassVar[type[msgspec.Struct]] = UpiPublic

    def __init__(self, settings: Mapping[str, str] | UpiSettings) -> None:
        """Build from the ``FLOSSPAY_UPI_*`` settings; raises ``UpiSettingsError`` (one line) if unusable."""
        self.settings = settings if isinstance(settings, UpiSettings) else UpiSettings.from_mapping(settings)
        self._psp = PspTransport(
            self.settings.psp_url,
            timeout_seconds=self.settings.timeout_seconds,
            api_key=self.settings.api_key,
            user_agent="flosspay-upi",
        )

    def __repr__(self) -> str:
        s = self.settings
        return f"UpiRail(psp_url={s.psp_url!r}, timeout={s.timeout_seconds}s, max_amount={s.max_amount.format()} INR)"

    def close(self) -> None:
        """Release the pooled connections (the next call opens new ones)."""
        self._psp.close()

    # --- validation ---------------------------------------------------------------------------

    def prepare(self, fields: msgspec.Struct, amount: Money, flow: Flow) -> PreparedPayment:
        """Check UPI's rules, reporting every broken one at once."""
        if not isinstance(fields, UpiFields):
            raise ValidationFailed([FieldError("body", "expected the UPI fields senderUpi and receiverUpi")])
        errors: list[FieldError] = []
        sender = _vpa(fields.sender_upi, "senderUpi", errors)
        receiver = _vpa(fields.receiver_upi, "receiverUpi", errors)
        if sender is not None and receiver is not None and sender.same_account(receiver):
            errors.append(FieldError("receiverUpi", "must be a different UPI address from senderUpi"))
        if flow not in self.flows:
            errors.append(FieldError("flow", f"UPI does not support {flow!s}"))
        limit = self.settings.max_amount
        if amount.currency != CURRENCY:
            errors.append(FieldError("currency", f"UPI accepts INR only, got {amount.currency!r}"))
        elif amount.minor <= 0:
            errors.append(FieldError("amount", "must be greater than zero"))
        elif amount.minor > limit.minor:
            errors.append(FieldError("amount", f"exceeds the UPI per-transaction limit of {limit.format()} INR"))
        if errors or sender is None or receiver is None:
            raise ValidationFailed(errors)
        details = {"senderUpi": sender.value, "receiverUpi": receiver.value}
        # Ledger accounts: one per VPA, case-folded as NPCI treats addresses (upi:vpa:alice@okaxis).
        return PreparedPayment(
            details=details,
            public=dict(details),
            payer_account=("vpa", sender.value.lower()),
            payee_account=("vpa", receiver.value.lower()),
        )

    # --- talking to the PSP -------------------------------------------------------------------

    @never_raises(RailResult, rail="UPI")
    def execute(self, request: RailRequest) -> RailResult:
        """Pay, or send the collect request; the PSP answers the same reference only once."""
        payload = _payment_payload(request)
        if isinstance(payload, RailResult):
            return payload
        answer = self._psp.request("POST", "/v1/payments", payload)
        return _payment_result(answer, request.flow, on_status_query=False)

    @never_raises(RailResult, rail="UPI")
    def status(self, request: RailRequest) -> RailResult:
        """Ask the PSP what became of ``request.reference``."""
        if reference_refusal(request.reference) is not None:
            return RailResult(Outcome.NOT_FOUND, codes.REQUEST_NOT_FOUND, "malformed reference")
        answer = self._psp.request("GET", f"/v1/payments/{quote(request.reference, safe='')}")
        return _payment_result(answer, request.flow, on_status_query=True)

    @never_raises(RefundResult, rail="UPI")
    def refund(self, request: RailRequest, amount: Money, refund_reference: str) -> RefundResult:
        """Return part or all of a completed payment; the PSP keeps refunds within the debit."""
        refused = refund_refusal(request, amount, refund_reference, exceeds_code="REFUND_EXCEEDS_PAYMENT")
        if refused is not None:
            return refused
        payload = {
            "refundReference": refund_reference,
            "reference": request.reference,
            "amountMinor": amount.minor,
            "currency": amount.currency,
        }
        return _refund_result(self._psp.request("POST", "/v1/refunds", payload))


def _vpa(value: str, field: str, errors: list[FieldError]) -> Vpa | None:
    try:
        return Vpa.parse(value, field)
    except ValidationFailed as exc:
        errors.extend(exc.errors)
        return None


def _payment_payload(request: RailRequest) -> dict[str, Any] | RailResult:
    """The PSP request body, or a DECLINED result when the stored request cannot be sent at all."""
    payer = request.details.get("senderUpi")
    payee = request.details.get("receiverUpi")
    if not isinstance(payer, str) or not isinstance(payee, str):
        return RailResult(Outcome.DECLINED, "INVALID_DETAILS", "payment details lack senderUpi/receiverUpi")
    if request.amount.currency != CURRENCY:
        return RailResult(Outcome.DECLINED, "CURRENCY_NOT_SUPPORTED", "UPI moves INR only")
    refused = reference_refusal(request.reference)
    if refused is not None:
        return refused
    return {
        "reference": request.reference,
        "flow": request.flow.value,
        "payer": payer,
        "payee": payee,
        "amountMinor": request.amount.minor,
        "currency": request.amount.currency,
        "expiresAt": request.expires_at.isoformat() if request.expires_at is not None else None,
    }


def _payment_result(answer: PspAnswer | NoAnswer, flow: Flow, *, on_status_query: bool) -> RailResult:
    read = read_answer(answer)
    if isinstance(read, NoAnswer):
        return read.result()
    if read.http_status == 404 and on_status_query and read.code == codes.REQUEST_NOT_FOUND:
        return RailResult(Outcome.NOT_FOUND, read.code, "the PSP knows no such payment")
    if 200 <= read.http_status < 300 and read.code is not None:
        outcome = codes.payment_outcome(read.code, flow)
        return RailResult(outcome, read.code, codes.reason(read.code), read.psp_reference)
    return _rejected(read)


def _rejected(answer: UpiAnswer) -> RailResult:
    """A 4xx answer. Malformed or conflicting requests are refused for good; the rest (auth, rate
    limits, wrong URL) are the operator's to fix and changed nothing, so they may be retried."""
    status = answer.http_status
    if status in (400, 409, 422):
        code = answer.code or f"HTTP_{status}"
        return RailResult(Outcome.DECLINED, code, f"PSP refused the request (HTTP {status}): {codes.reason(code)}")
    return RailResult(Outcome.TRANSIENT, f"HTTP_{status}", f"PSP refused the call (HTTP {status})")


def _refund_result(answer: PspAnswer | NoAnswer) -> RefundResult:
    read = read_answer(answer)
    if isinstance(read, NoAnswer):
        return read.refund_result()
    if read.http_status == 404 and read.code == codes.REQUEST_NOT_FOUND:
        return RefundResult(Outcome.NOT_FOUND, read.code, "the PSP knows no such payment")
    if 200 <= read.http_status < 300 and read.code is not None:
        return RefundResult(codes.refund_outcome(read.code), read.code, codes.reason(read.code))
    return as_refund(_rejected(read))
