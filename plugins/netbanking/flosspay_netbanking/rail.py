"""The net banking rail: the customer chooses their bank, authorises at its page, and is sent back.

``execute`` starts the payment at the bank gateway with FlossPay's payment id as the reference
(the gateway's duplicate check makes it exactly-once) and answers ACTION_REQUIRED with a redirect
``NextAction`` to the bank's page. FlossPay then asks ``status`` until the customer's answer
settles it: COMPLETED, DECLINED (the customer or the bank said no) or EXPIRED (nobody answered).
"""

from __future__ import annotations

import logging
from typing import ClassVar
from urllib.parse import quote, urlsplit

import msgspec
from flosspay_netbanking.banks import bank_name
from flosspay_netbanking.fields import NetbankingFields
from flosspay_netbanking.settings import NetbankingSettings

from flosspay.railapi import (
    FieldError,
    Flow,
    Money,
    NextAction,
    NoAnswer,
    Outcome,
    PreparedPayment,
    PspAnswer,
    PspTransport,
    RailRequest,
    RailResult,
    RefundResult,
    ValidationFailed,
    http_failure,
    never_raises,
    reference_refusal,
)

log = logging.getLogger(__name__)

MAX_RETURN_URL = 2048
_CREDENTIALS = "FLOSSPAY_NETBANKING_API_KEY"
CUSTOMER_DECLINED = "CUSTOMER_DECLINED"
"""The gateway's code for a customer who pressed Decline (a bank's own refusal is ``BANK_DECLINED``)."""
_OUTCOMES = {
    "approved": Outcome.COMPLETED,
    "declined": Outcome.DECLINED,
    "expired": Outcome.EXPIRED,
    "pending_customer": Outcome.ACTION_REQUIRED,
}


class NetbankingRail:
    """Net banking payments (PAY only). One instance per process; every method is thread-safe."""

    name: ClassVar[str] = "netbanking"
    method: ClassVar[str] = "NETBANKING"
    flows: ClassVar[frozenset[Flow]] = frozenset({Flow.PAY})
    request_type: ClassVar[type[msgspec.Struct]] = NetbankingFields

    def __init__(self, settings: NetbankingSettings) -> None:
        self.settings = settings
        self._psp = PspTransport(
            settings.psp_url,
            timeout_seconds=settings.timeout_seconds,
            api_key=settings.api_key,
            user_agent="flosspay-netbanking",
        )

    def __repr__(self) -> str:
        return f"NetbankingRail(psp_url={self.settings.psp_url!r}, timeout={self.settings.timeout_seconds}s)"

    def close(self) -> None:
        self._psp.close()

    def prepare(self, fields: msgspec.Struct, amount: Money, flow: Flow) -> PreparedPayment:
        """Check the bank code and the return address; the payer's ledger account is their bank."""
        if not isinstance(fields, NetbankingFields):
            raise ValidationFailed([FieldError("netbanking", "expected a netbanking object")])
        details = fields.netbanking
        errors: list[FieldError] = []
        bank = details.bank.strip().upper()
        if bank not in self.settings.banks:
            known = ", ".join(sorted(self.settings.banks))
            errors.append(FieldError("netbanking.bank", f"must be one of the bank codes {known}"))
        url = urlsplit(details.return_url)
        printable = all(0x21 <= ord(ch) <= 0x7E for ch in details.return_url)
        if url.scheme not in ("http", "https") or not url.netloc or not printable:
            errors.append(FieldError("netbanking.returnUrl", "must be an absolute http(s) URL without spaces"))
        elif len(details.return_url) > MAX_RETURN_URL:
            errors.append(FieldError("netbanking.returnUrl", f"must be at most {MAX_RETURN_URL} characters"))
        if amount.currency not in self.settings.currencies:
            allowed = ", ".join(sorted(self.settings.currencies))
            errors.append(FieldError("currency", f"net banking accepts {allowed} only"))
        if flow is not Flow.PAY:
            errors.append(FieldError("flow", "net banking payments support pay only"))
        if errors:
            raise ValidationFailed(errors)
        return PreparedPayment(
            details={"bank": bank, "returnUrl": details.return_url},
            public={"netbanking": {"bank": bank, "bankName": bank_name(bank)}},
            payer_account=("bank", bank),  # netbanking:bank:HDFC; the merchant is paid
        )

    @never_raises(RailResult, rail="netbanking")
    def execute(self, request: RailRequest) -> RailResult:
        """Start the payment at the gateway; a repeated reference answers the first payment."""
        bank, return_url = request.details.get("bank"), request.details.get("returnUrl")
        if not isinstance(bank, str) or not isinstance(return_url, str):
            return RailResult(Outcome.DECLINED, "INVALID_DETAILS", "the payment holds no bank or return URL")
        refused = reference_refusal(request.reference)
        if refused is not None:
            return refused
        payload = {
            "reference": request.reference,
            "bank": bank,
            "amountMinor": request.amount.minor,
            "currency": request.amount.currency,
            "returnUrl": return_url,
        }
        result = _payment_result(self._psp.request("POST", "/v1/payments", payload), on_status_query=False)
        log.info("netbanking payment %s: %s %s", request.reference, result.outcome.value, result.code)
        return result

    @never_raises(RailResult, rail="netbanking")
    def status(self, request: RailRequest) -> RailResult:
        path = f"/v1/payments/{quote(request.reference, safe='')}"
        return _payment_result(self._psp.request("GET", path), on_status_query=True)

    def refund(self, request: RailRequest, amount: Money, refund_reference: str) -> RefundResult:
        """The sandbox gateway takes no refunds: refused here, before anything is sent."""
        return RefundResult(Outcome.DECLINED, "REFUNDS_UNSUPPORTED", "net banking refunds are not supported")


def _payment_result(answer: PspAnswer | NoAnswer, *, on_status_query: bool) -> RailResult:
    if isinstance(answer, NoAnswer):
        return answer.result()
    if answer.http_status == 200:
        outcome = _OUTCOMES.get(str(answer.body.get("status")))
        if outcome is None:
            return RailResult(Outcome.UNCERTAIN, "BAD_RESPONSE", "the gateway answered an unknown payment status")
        action = None
        if outcome is Outcome.ACTION_REQUIRED:
            action = _redirect(answer.body.get("redirectUrl"))
            if action is None:
                return RailResult(Outcome.UNCERTAIN, "BAD_RESPONSE", "the gateway gave no usable bank page")
        code, message, reference = answer.text("code"), answer.text("message"), answer.text("bankReference")
        if outcome is Outcome.DECLINED and code == CUSTOMER_DECLINED:
            outcome = Outcome.PAYER_DECLINED  # the customer said no on the bank's page: DECLINED, not FAILED
        return RailResult(outcome, code, message, reference, action)
    if answer.http_status == 404 and on_status_query and answer.text("code") == "not_found":
        return RailResult(Outcome.NOT_FOUND, "NOT_FOUND", "the gateway knows no such payment")
    return http_failure(answer, psp="the bank gateway", credentials=_CREDENTIALS)


def _redirect(url: object) -> NextAction | None:
    if not isinstance(url, str):
        return None
    try:
        return NextAction("redirect", url)
    except ValueError:
        return None
