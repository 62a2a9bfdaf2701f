"""The rail: validate the account, then pay, ask and refund through the PSP's JSON API.

Rules kept (the conformance suite checks each): the payment id is sent as the PSP's idempotency
key, so a repeated ``execute`` never pays twice; every transport failure becomes an outcome
(TRANSIENT if nothing was sent, UNCERTAIN if it may have been); the API key never appears in a
repr, a log line or a message.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Mapping
from typing import Any, ClassVar
from urllib.parse import quote

import httpx
import msgspec

from flosspay.railapi import (
    CURRENCY_EXPONENTS,
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

ACCOUNT = re.compile(r"[a-z0-9][a-z0-9-]{2,39}")


class MinimalFields(msgspec.Struct, rename="camel", forbid_unknown_fields=True, frozen=True):
    """The rail's own request fields: ``{"account": "alice-01"}``."""

    account: str


class MinimalRail:
    name: ClassVar[str] = "minimal"
    method: ClassVar[str] = "MINIMAL"
    flows: ClassVar[frozenset[Flow]] = frozenset({Flow.PAY})
    request_type: ClassVar[type[msgspec.Struct]] = MinimalFields

    def __init__(self, psp_url: str, api_key: str, timeout_seconds: float) -> None:
        self._psp_url = psp_url.rstrip("/")
        self._api_key = api_key
        self._timeout = timeout_seconds
        self._client: httpx.Client | None = None  # created on first use: no I/O at start-up
        self._lock = threading.Lock()

    @classmethod
    def from_settings(cls, settings: Mapping[str, str]) -> MinimalRail:
        psp_url = settings.get("psp_url")
        if not psp_url:
            raise ValueError("FLOSSPAY_MINIMAL_PSP_URL is required")
        try:
            timeout = float(settings.get("timeout_seconds", "10"))
        except ValueError:
            raise ValueError("FLOSSPAY_MINIMAL_TIMEOUT_SECONDS must be a number of seconds") from None
        return cls(psp_url, settings.get("api_key", "demo-key"), timeout)

    def __repr__(self) -> str:  # never the API key
        return f"MinimalRail(psp_url={self._psp_url!r})"

    def close(self) -> None:
        if self._client is not None:
            self._client.close()

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
        return PreparedPayment(details={"account": fields.account}, public={"account": fields.account})

    def execute(self, request: RailRequest) -> RailResult:
        body = {"reference": request.reference, "account": request.details["account"], **_amount(request.amount)}
        return _payment(self._call("POST", "/payments", body))

    def status(self, request: RailRequest) -> RailResult:
        return _payment(self._call("GET", f"/payments/{quote(request.reference, safe='')}"))

    def refund(self, request: RailRequest, amount: Money, refund_reference: str) -> RefundResult:
        body = {"refundReference": refund_reference, "reference": request.reference, **_amount(amount)}
        answer = _payment(self._call("POST", "/refunds", body))
        return RefundResult(answer.outcome, answer.code, answer.reason)

    def _call(self, method: str, path: str, body: dict[str, Any] | None = None) -> httpx.Response | RailResult:
        """The PSP's answer, or the outcome of not getting one."""
        with self._lock:
            if self._client is None:
                headers = {"Authorization": f"Bearer {self._api_key}"}
                self._client = httpx.Client(base_url=self._psp_url, headers=headers, timeout=self._timeout)
        try:
            return self._client.request(method, path, json=body)
        except (httpx.ConnectError, httpx.ConnectTimeout):
            return RailResult(Outcome.TRANSIENT, "UNREACHABLE", "PSP not reached; nothing was sent")
        except httpx.HTTPError as exc:
            return RailResult(Outcome.UNCERTAIN, "NO_ANSWER", f"sent, but no answer ({type(exc).__name__})")


def _amount(money: Money) -> dict[str, Any]:
    return {"amountMinor": money.minor, "currency": money.currency}


OUTCOMES = {"completed": Outcome.COMPLETED, "declined": Outcome.DECLINED}


def _payment(answer: httpx.Response | RailResult) -> RailResult:
    """Map the PSP's answer: 404 unknown, 503 nothing done, other 5xx maybe done, else its status."""
    if isinstance(answer, RailResult):
        return answer
    if answer.status_code == 404:
        return RailResult(Outcome.NOT_FOUND, "NOT_FOUND")
    if answer.status_code == 503:
        return RailResult(Outcome.TRANSIENT, "UNAVAILABLE", "PSP busy; nothing was done")
    if answer.status_code >= 500:
        return RailResult(Outcome.UNCERTAIN, f"HTTP_{answer.status_code}", "PSP error; it may have acted")
    try:
        body = answer.json()
        outcome = OUTCOMES[body["status"]]
    except (ValueError, KeyError, TypeError):
        return RailResult(Outcome.UNCERTAIN, "BAD_ANSWER", f"unreadable PSP answer (HTTP {answer.status_code})")
    return RailResult(outcome, body.get("code"), body.get("reason"), body.get("pspReference"))
