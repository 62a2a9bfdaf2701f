"""The wallet rail: checks the provider and wallet id, then debits the wallet through the provider's API.

FlossPay's payment id is the provider's debit reference, so the provider's duplicate check makes
``execute`` exactly-once. An insufficient balance is a real decline; refunds are credited back to
the wallet and never exceed the debit.
"""

from __future__ import annotations

import logging
import re
from typing import ClassVar
from urllib.parse import quote

import msgspec
from flosspay_wallet.fields import WalletFields
from flosspay_wallet.settings import WalletSettings
from flosspay_wallet.transport import NoAnswer, PspAnswer, PspClient

from flosspay.railapi import (
    FieldError,
    Flow,
    Money,
    Outcome,
    PreparedPayment,
    RailRequest,
    RailResult,
    RefundResult,
    ValidationFailed,
)

log = logging.getLogger(__name__)

WALLET_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@+-]{2,63}")
MAX_REFERENCE_LENGTH = 128


class WalletRail:
    """Wallet payments (PAY only). One instance per process; every method is thread-safe."""

    name: ClassVar[str] = "wallet"
    method: ClassVar[str] = "WALLET"
    flows: ClassVar[frozenset[Flow]] = frozenset({Flow.PAY})
    request_type: ClassVar[type[msgspec.Struct]] = WalletFields

    def __init__(self, settings: WalletSettings) -> None:
        self.settings = settings
        self._psp = PspClient(settings.psp_url, settings.api_key, settings.timeout_seconds)

    def __repr__(self) -> str:
        return f"WalletRail(psp_url={self.settings.psp_url!r}, timeout={self.settings.timeout_seconds}s)"

    def close(self) -> None:
        self._psp.close()

    def prepare(self, fields: msgspec.Struct, amount: Money, flow: Flow) -> PreparedPayment:
        """Check every wallet rule at once; no network call is needed to accept a wallet payment."""
        if not isinstance(fields, WalletFields):
            raise ValidationFailed([FieldError("wallet", "expected a wallet object")])
        wallet = fields.wallet
        errors: list[FieldError] = []
        provider = wallet.provider.strip().lower()
        if provider not in self.settings.providers:
            known = ", ".join(sorted(self.settings.providers))
            errors.append(FieldError("wallet.provider", f"must be one of: {known}"))
        if not WALLET_ID.fullmatch(wallet.wallet_id):
            errors.append(
                FieldError("wallet.walletId", "must be 3-64 letters, digits or . _ @ + -, starting alphanumeric")
            )
        if amount.currency not in self.settings.currencies:
            allowed = ", ".join(sorted(self.settings.currencies))
            errors.append(FieldError("currency", f"wallets accept {allowed} only"))
        if flow is not Flow.PAY:
            errors.append(FieldError("flow", "wallet payments support pay only"))
        if errors:
            raise ValidationFailed(errors)
        return PreparedPayment(
            details={"provider": provider, "wallet_id": wallet.wallet_id},
            public={"wallet": {"provider": provider}},
        )

    def execute(self, request: RailRequest) -> RailResult:
        """Debit the wallet; the provider answers a repeated reference with the first debit."""
        try:
            provider, wallet_id = request.details.get("provider"), request.details.get("wallet_id")
            if not isinstance(provider, str) or not isinstance(wallet_id, str):
                return RailResult(Outcome.DECLINED, "INVALID_DETAILS", "the payment holds no wallet")
            if not 0 < len(request.reference) <= MAX_REFERENCE_LENGTH:
                return RailResult(Outcome.DECLINED, "INVALID_REFERENCE", "reference must be 1-128 characters")
            payload = {
                "reference": request.reference,
                "provider": provider,
                "walletId": wallet_id,
                "amountMinor": request.amount.minor,
                "currency": request.amount.currency,
            }
            result = _debit_result(self._psp.call("POST", "/v1/debits", payload), on_status_query=False)
        except Exception as exc:  # never raise to the worker; the debit may have been sent
            result = RailResult(Outcome.UNCERTAIN, "RAIL_ERROR", f"wallet rail error ({type(exc).__name__})")
        log.info("wallet debit %s: %s %s", request.reference, result.outcome.value, result.code)
        return result

    def status(self, request: RailRequest) -> RailResult:
        try:
            path = f"/v1/debits/{quote(request.reference, safe='')}"
            return _debit_result(self._psp.call("GET", path), on_status_query=True)
        except Exception as exc:
            return RailResult(Outcome.UNCERTAIN, "RAIL_ERROR", f"wallet rail error ({type(exc).__name__})")

    def refund(self, request: RailRequest, amount: Money, refund_reference: str) -> RefundResult:
        """Credit part or all of a debit back to the wallet; the provider caps refunds at the debit."""
        try:
            refused = _refund_refusal(request, amount, refund_reference)
            if refused is not None:
                return refused
            path = f"/v1/debits/{quote(request.reference, safe='')}/refunds"
            payload = {"refundReference": refund_reference, "amountMinor": amount.minor, "currency": amount.currency}
            result = _refund_result(self._psp.call("POST", path, payload))
        except Exception as exc:
            result = RefundResult(Outcome.UNCERTAIN, "RAIL_ERROR", f"wallet rail error ({type(exc).__name__})")
        log.info(
            "wallet refund %s of %s: %s %s", refund_reference, request.reference, result.outcome.value, result.code
        )
        return result


_DEBIT_OUTCOMES = {"succeeded": Outcome.COMPLETED, "declined": Outcome.DECLINED}


def _debit_result(answer: PspAnswer | NoAnswer, *, on_status_query: bool) -> RailResult:
    if isinstance(answer, NoAnswer):
        return RailResult(answer.outcome, answer.code, answer.reason)
    body = answer.body
    code = body.get("code") if isinstance(body.get("code"), str) else None
    if answer.http_status == 200:
        outcome = _DEBIT_OUTCOMES.get(str(body.get("status")))
        if outcome is None:
            return RailResult(Outcome.UNCERTAIN, "BAD_RESPONSE", "the provider answered an unknown debit status")
        debit_id = body.get("debitId") if isinstance(body.get("debitId"), str) else None
        message = body.get("message") if isinstance(body.get("message"), str) else None
        return RailResult(outcome, code, message, debit_id)
    if answer.http_status == 404 and on_status_query and code == "NOT_FOUND":
        return RailResult(Outcome.NOT_FOUND, "NOT_FOUND", "the provider knows no such debit")
    return _http_failure(answer.http_status, code)


def _http_failure(status: int, code: str | None) -> RailResult:
    """A non-200 answer: refused for good (4xx about the request), nothing done (503/429/auth), or maybe done."""
    if status in (400, 409, 422):
        return RailResult(
            Outcome.DECLINED, code or f"HTTP_{status}", f"the provider refused the request (HTTP {status})"
        )
    if status in (401, 403):
        return RailResult(
            Outcome.TRANSIENT, "PSP_AUTH", "the provider refused the rail's credentials (FLOSSPAY_WALLET_API_KEY)"
        )
    if status in (404, 429, 503):
        return RailResult(Outcome.TRANSIENT, f"HTTP_{status}", f"the provider did not take the request (HTTP {status})")
    return RailResult(Outcome.UNCERTAIN, f"HTTP_{status}", f"the provider failed (HTTP {status}); it may have acted")


def _refund_refusal(request: RailRequest, amount: Money, refund_reference: str) -> RefundResult | None:
    if not 0 < len(refund_reference) <= MAX_REFERENCE_LENGTH:
        return RefundResult(Outcome.DECLINED, "INVALID_REFERENCE", "refund reference must be 1-128 characters")
    if amount.currency != request.amount.currency:
        return RefundResult(Outcome.DECLINED, "CURRENCY_MISMATCH", "refund currency differs from the payment's")
    if amount.minor <= 0:
        return RefundResult(Outcome.DECLINED, "INVALID_AMOUNT", "refund amount must be greater than zero")
    if amount.minor > request.amount.minor:
        return RefundResult(Outcome.DECLINED, "EXCEEDS_AMOUNT", "refund amount exceeds the payment amount")
    return None


def _refund_result(answer: PspAnswer | NoAnswer) -> RefundResult:
    if isinstance(answer, NoAnswer):
        return RefundResult(answer.outcome, answer.code, answer.reason)
    body = answer.body
    code = body.get("code") if isinstance(body.get("code"), str) else None
    if answer.http_status == 200:
        if body.get("status") == "succeeded":
            return RefundResult(Outcome.COMPLETED, code or "00", "credited back to the wallet")
        if body.get("status") == "declined":
            return RefundResult(Outcome.DECLINED, code, "the provider refused the refund")
        return RefundResult(Outcome.UNCERTAIN, "BAD_RESPONSE", "the provider answered an unknown refund status")
    if answer.http_status == 404 and code == "NOT_FOUND":
        return RefundResult(Outcome.NOT_FOUND, "NOT_FOUND", "the provider knows no such debit")
    failure = _http_failure(answer.http_status, code)
    return RefundResult(failure.outcome, failure.code, failure.reason)
