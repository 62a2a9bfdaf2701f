"""The rail: validate the account, then pay, ask and refund through the PSP's JSON API.

Rules kept (the conformance suite checks each): the payment id is sent as the PSP's idempotency
key, so a repeated ``execute`` never pays twice; every transport failure becomes an outcome
(TRANSIENT if nothing was sent, UNCERTAIN if it may have been); the API key never appears in a
repr, a log line or a message. ``PspTransport`` and ``http_failure`` from FlossPay's rail toolkit
do the transport part.
"""

from __future__ import annotations

import re
from typing import Any, ClassVar
from urllib.parse import quote

import msgspec

from flosspay.railapi import (
    CURRENCY_EXPONENTS,
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
    RailSettings,
    RefundResult,
    SettingsReader,
    ValidationFailed,
    as_refund,
    http_failure,
)

ACCOUNT = re.compile(r"[a-z0-9][a-z0-9-]{2,39}")


class MinimalFields(msgspec.Struct, rename="camel", forbid_unknown_fields=True, frozen=True):
    """The rail's own request fields: ``{"account": "alice-01"}``."""

    account: str


class MinimalRail:
    name: ClassVar[str] = "minimal"
    method: ClassVar[str] = "MINIMAL"
    flows: ClassVar[frozenset[Flow]] = frozenset({Flow.PAY})
    request_type: ClassVar[type[msgspec.Struct]] = MinimalFields
    refunds: ClassVar[bool] = True  # refund() gives a payment back, whole or in parts
    partial_refunds: ClassVar[bool] = True

    def __init__(self, psp_url: str, api_key: str, timeout_seconds: float) -> None:
        self._psp = PspTransport(psp_url, timeout_seconds=timeout_seconds, api_key=api_key)  # connects on first use

    @classmethod
    def from_settings(cls, settings: RailSettings) -> MinimalRail:
        read = SettingsReader(settings, rail="minimal")  # errors name FLOSSPAY_MINIMAL_<KEY>
        return cls(read.psp_url(), read.secret(default="demo-key"), read.seconds("timeout_seconds", 10.0))

    def __repr__(self) -> str:  # never the API key
        return f"MinimalRail(psp_url={self._psp.base_url!r})"

    def close(self) -> None:
        self._psp.close()

    def prepare(self, fields: msgspec.Struct, amount: Money, flow: Flow) -> PreparedPayment:
        if not isinstance(fields, MinimalFields):
            raise ValidationFailed([FieldError("account", "is required")])
        errors = []
        if not ACCOUNT.fullmatch(fields.account):
            errors.append(FieldError("account", "must be 3-40 lower-case letters, digits or hyphens"))
        if amount.currency not in CURRENCY_EXPONENTS:
            errors.append(FieldError("currency", "is not supported"))
        if errors:
            raise ValidationFailed(errors)
        return PreparedPayment(
            details={"account": fields.account},
            public={"account": fields.account},
            payer_account=("account", fields.account),  # the ledger's name for the payer: minimal:account:<id>
        )

    def execute(self, request: RailRequest) -> RailResult:
        body = {"reference": request.reference, "account": request.details["account"], **_amount(request.amount)}
        return _payment(self._psp.request("POST", "/payments", body))

    def status(self, request: RailRequest) -> RailResult:
        return _payment(self._psp.request("GET", f"/payments/{quote(request.reference, safe='')}"))

    def refund(self, request: RailRequest, amount: Money, refund_reference: str) -> RefundResult:
        body = {"refundReference": refund_reference, "reference": request.reference, **_amount(amount)}
        return as_refund(_payment(self._psp.request("POST", "/refunds", body)))


def _amount(money: Money) -> dict[str, Any]:
    return {"amountMinor": money.minor, "currency": money.currency}


OUTCOMES = {"completed": Outcome.COMPLETED, "declined": Outcome.DECLINED}


def _payment(answer: PspAnswer | NoAnswer) -> RailResult:
    """Map the PSP's answer: no answer as the transport says, 404 unknown, other errors by HTTP status."""
    if isinstance(answer, NoAnswer):
        return answer.result()
    if answer.http_status == 404:
        return RailResult(Outcome.NOT_FOUND, "NOT_FOUND")
    if answer.http_status != 200:
        return http_failure(answer)  # 503 nothing done; 500 maybe done; 409 refused...
    outcome = OUTCOMES.get(str(answer.body.get("status")))
    if outcome is None:
        return RailResult(Outcome.UNCERTAIN, "BAD_ANSWER", "unreadable PSP answer")
    return RailResult(outcome, answer.text("code"), answer.text("reason"), answer.text("pspReference"))
