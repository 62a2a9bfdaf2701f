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
from flosspay_wallet.fields import WalletFields, WalletPublic
from flosspay_wallet.settings import WalletSettings

from flosspay.railapi import (
    FieldError,
    Flow,
    Money,
    Outcome,
    PreparedPayment,
    PspAnswers,
    PspTransport,
    RailRequest,
    RailResult,
    RefundResult,
    ValidationFailed,
    never_raises,
    reference_refusal,
    refund_refusal,
)

log = logging.getLogger(__name__)

WALLET_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@+-]{2,63}")


class WalletRail:
    """Wallet payments (PAY only). One instance per process; every method is thread-safe."""

    name: ClassVar[str] = "wallet"
    method: ClassVar[str] = "WALLET"
    flows: ClassVar[frozenset[Flow]] = frozenset({Flow.PAY})
    request_type: ClassVar[type[msgspec.Struct]] = WalletFields
    refunds: ClassVar[bool] = True  # as its conformance requirements declare
    partial_refunds: ClassVar[bool] = True
    public_type: ClassVar[type[msgspec.Struct]] = WalletPublic

    def field_enums(self) -> dict[str, list[str]]:
        """The closed sets of this rail's fields, for the OpenAPI document: the providers enabled here."""
        providers = sorted(self.settings.providers)
        return {"wallet.provider": providers}

    def __init__(self, settings: WalletSettings) -> None:
        self.settings = settings
        self._psp = PspTransport(
            settings.psp_url,
            timeout_seconds=settings.timeout_seconds,
            api_key=settings.api_key,
            user_agent="flosspay-wallet",
        )

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
            payer_account=(provider, wallet.wallet_id),  # wallet:<provider>:<wallet id>; the merchant is paid
        )

    @never_raises(RailResult, rail="wallet")
    def execute(self, request: RailRequest) -> RailResult:
        """Debit the wallet; the provider answers a repeated reference with the first debit."""
        provider, wallet_id = request.details.get("provider"), request.details.get("wallet_id")
        if not isinstance(provider, str) or not isinstance(wallet_id, str):
            return RailResult(Outcome.DECLINED, "INVALID_DETAILS", "the payment holds no wallet")
        refused = reference_refusal(request.reference)
        if refused is not None:
            return refused
        payload = {
            "reference": request.reference,
            "provider": provider,
            "walletId": wallet_id,
            "amountMinor": request.amount.minor,
            "currency": request.amount.currency,
        }
        result = _debit_result(self._psp.request("POST", "/v1/debits", payload), on_status_query=False)
        log.info("wallet debit %s: %s %s", request.reference, result.outcome.value, result.code)
        return result

    @never_raises(RailResult, rail="wallet")
    def status(self, request: RailRequest) -> RailResult:
        path = f"/v1/debits/{quote(request.reference, safe='')}"
        return _debit_result(self._psp.request("GET", path), on_status_query=True)

    @never_raises(RefundResult, rail="wallet")
    def refund(self, request: RailRequest, amount: Money, refund_reference: str) -> RefundResult:
        """Credit part or all of a debit back to the wallet; the provider caps refunds at the debit."""
        refused = refund_refusal(request, amount, refund_reference)
        if refused is not None:
            return refused
        path = f"/v1/debits/{quote(request.reference, safe='')}/refunds"
        payload = {"refundReference": refund_reference, "amountMinor": amount.minor, "currency": amount.currency}
        result = _refund_result(self._psp.request("POST", path, payload))
        log.info(
            "wallet refund %s of %s: %s %s", refund_reference, request.reference, result.outcome.value, result.code
        )
        return result


_ANSWERS = PspAnswers(
    outcomes={"succeeded": Outcome.COMPLETED, "declined": Outcome.DECLINED},
    id_field="debitId",
    noun="debit",
    not_found_code="NOT_FOUND",
    psp="the provider",
    credentials="FLOSSPAY_WALLET_API_KEY",
    refunded="credited back to the wallet",
)
_debit_result = _ANSWERS.payment
_refund_result = _ANSWERS.refund
