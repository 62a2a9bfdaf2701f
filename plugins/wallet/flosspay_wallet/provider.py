"""The sandbox's wallet provider: balances, debits exactly once per reference, refunds credited back.

Pure logic behind one lock, no HTTP (``sandbox.py`` serves it). Any wallet the provider has not
seen starts with ₹10,000.00; the wallet id's prefix picks a test behaviour (see ``BEHAVIOURS``).
"""

from __future__ import annotations

import re
import secrets
import threading
from dataclasses import dataclass, field
from typing import Any

from flosspay.railapi import Reply

OPENING_BALANCE_MINOR = 1_000_000  # ₹10,000.00 in paise
_REFERENCE = re.compile(r"[\x21-\x7e]{1,128}")
_WALLET_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@+-]{2,63}")

BEHAVIOURS: dict[str, str] = {
    "empty": "starts with a zero balance: every debit is declined INSUFFICIENT_BALANCE",
    "blocked": "declined WALLET_BLOCKED",
    "transient": "provider unavailable (HTTP 503); nothing recorded",
    "uncertain": "debited, but the provider answers HTTP 500",
    "slow": "debited, answered after a delay (the rail times out)",
    "norefund": "debited normally; every refund is declined REFUND_DECLINED (nothing credited back)",
}
"""Wallet id prefix → behaviour (``empty-1``, ``slow.alice``...). Any other wallet id behaves normally."""


def behaviour_of(wallet_id: str) -> str | None:
    lowered = wallet_id.lower()
    return next((prefix for prefix in BEHAVIOURS if lowered.startswith(prefix)), None)


@dataclass(slots=True)
class _Account:
    balance_minor: int
    debited_minor: int = 0
    credited_minor: int = 0


@dataclass(slots=True)
class _Debit:
    reference: str
    provider: str
    wallet_id: str
    amount_minor: int
    currency: str
    status: str  # succeeded | declined
    code: str
    message: str
    debit_id: str
    refunded_minor: int = 0
    refunds: dict[str, dict[str, Any]] = field(default_factory=dict)

    def same_request(self, provider: str, wallet_id: str, amount_minor: int, currency: str) -> bool:
        return (self.provider, self.wallet_id, self.amount_minor, self.currency) == (
            provider,
            wallet_id,
            amount_minor,
            currency,
        )


class BadRequest(Exception):
    """The request is malformed; the message names the field."""


class WalletProvider:
    """Thread-safe in-memory wallets; INR only, like the wallets it imitates."""

    def __init__(self, *, slow_seconds: float) -> None:
        self.slow_seconds = slow_seconds
        self._lock = threading.Lock()
        self._accounts: dict[tuple[str, str], _Account] = {}
        self._debits: dict[str, _Debit] = {}

    def debit(self, payload: object) -> Reply:
        """Debit once per reference; a replay answers the recorded debit, at once."""
        try:
            reference, provider, wallet_id, amount_minor, currency = _debit_request(payload)
        except BadRequest as exc:
            return _bad(str(exc))
        behaviour = behaviour_of(wallet_id)
        with self._lock:
            known = self._debits.get(reference)
            if known is not None:
                if not known.same_request(provider, wallet_id, amount_minor, currency):
                    return Reply(409, {"code": "REFERENCE_REUSED", "error": "reference used for another debit"})
                return Reply(200, _view(known))
            if behaviour == "transient":
                return Reply(503, {"code": "UNAVAILABLE", "error": "try again later; nothing was debited"})
            account = self._account(provider, wallet_id)
            debit_id = f"wd_{secrets.token_hex(8)}"
            debit = _Debit(
                reference, provider, wallet_id, amount_minor, currency, "succeeded", "00", "debited", debit_id
            )
            if behaviour == "blocked":
                debit.status, debit.code, debit.message = "declined", "WALLET_BLOCKED", "the wallet is blocked"
            elif account.balance_minor < amount_minor:
                debit.status, debit.code, debit.message = "declined", "INSUFFICIENT_BALANCE", "insufficient balance"
            else:
                account.balance_minor -= amount_minor
                account.debited_minor += amount_minor
            self._debits[reference] = debit
            view = _view(debit)
        if behaviour == "uncertain" and debit.status == "succeeded":
            return Reply(500, {"code": "INTERNAL", "error": "internal error"})
        if behaviour == "slow":
            return Reply(200, view, self.slow_seconds)
        return Reply(200, view)

    def lookup(self, reference: str) -> Reply:
        with self._lock:
            debit = self._debits.get(reference)
            if debit is None:
                return Reply(404, {"code": "NOT_FOUND", "error": "no such debit"})
            return Reply(200, _view(debit))

    def refund(self, reference: str, payload: object) -> Reply:
        """Credit back part of a debit once per refund reference; in total at most the debit."""
        try:
            refund_reference, amount_minor, currency = _refund_request(payload)
        except BadRequest as exc:
            return _bad(str(exc))
        with self._lock:
            debit = self._debits.get(reference)
            if debit is None:
                return Reply(404, {"code": "NOT_FOUND", "error": "no such debit"})
            known = debit.refunds.get(refund_reference)
            if known is not None:
                if (known["amountMinor"], known["currency"]) != (amount_minor, currency):
                    return Reply(409, {"code": "REFERENCE_REUSED", "error": "refund reference used differently"})
                return Reply(200, dict(known))
            code = "00"
            if debit.status != "succeeded":
                code = "NOT_DEBITED"
            elif behaviour_of(debit.wallet_id) == "norefund":
                code = "REFUND_DECLINED"
            elif currency != debit.currency:
                code = "CURRENCY_MISMATCH"
            elif debit.refunded_minor + amount_minor > debit.amount_minor:
                code = "EXCEEDS_AMOUNT"
            body = {
                "refundReference": refund_reference,
                "reference": reference,
                "amountMinor": amount_minor,
                "currency": currency,
                "status": "succeeded" if code == "00" else "declined",
                "code": code,
            }
            if code == "00":
                account = self._account(debit.provider, debit.wallet_id)
                account.balance_minor += amount_minor
                account.credited_minor += amount_minor
                debit.refunded_minor += amount_minor
                body["refundedMinor"] = debit.refunded_minor
                debit.refunds[refund_reference] = body
            return Reply(200, dict(body))

    def refunds(self, reference: str | None = None) -> Reply:
        """Every refund credited (each refund reference once), optionally of one debit's reference."""
        with self._lock:
            rows = [
                dict(body)
                for debit in self._debits.values()
                if reference is None or debit.reference == reference
                for body in debit.refunds.values()
            ]
        return Reply(200, {"refunds": rows})

    def wallet(self, provider: str, wallet_id: str) -> Reply:
        """A wallet's balance and totals (sandbox only: lets tests see every debit)."""
        with self._lock:
            account = self._account(provider, wallet_id)
            return Reply(
                200,
                {
                    "provider": provider,
                    "walletId": wallet_id,
                    "balanceMinor": account.balance_minor,
                    "debitedMinor": account.debited_minor,
                    "creditedMinor": account.credited_minor,
                    "currency": "INR",
                },
            )

    def _account(self, provider: str, wallet_id: str) -> _Account:
        key = (provider, wallet_id)
        if key not in self._accounts:
            opening = 0 if behaviour_of(wallet_id) == "empty" else OPENING_BALANCE_MINOR
            self._accounts[key] = _Account(opening)
        return self._accounts[key]


def _view(debit: _Debit) -> dict[str, Any]:
    return {
        "reference": debit.reference,
        "debitId": debit.debit_id,
        "status": debit.status,
        "code": debit.code,
        "message": debit.message,
        "amountMinor": debit.amount_minor,
        "currency": debit.currency,
        "refundedMinor": debit.refunded_minor,
    }


def _bad(message: str) -> Reply:
    return Reply(400, {"code": "BAD_REQUEST", "error": message})


def _reference(payload: dict[str, Any], key: str) -> str:
    value = payload.get(key)
    if not isinstance(value, str) or not _REFERENCE.fullmatch(value):
        raise BadRequest(f"{key} must be 1-128 printable characters")
    return value


def _inr_amount(payload: dict[str, Any]) -> tuple[int, str]:
    minor, currency = payload.get("amountMinor"), payload.get("currency")
    if isinstance(minor, bool) or not isinstance(minor, int) or minor <= 0:
        raise BadRequest("amountMinor must be a positive integer number of paise")
    if currency != "INR":
        raise BadRequest("currency must be INR")
    return minor, currency


def _debit_request(payload: object) -> tuple[str, str, str, int, str]:
    if not isinstance(payload, dict):
        raise BadRequest("the body must be a JSON object")
    provider, wallet_id = payload.get("provider"), payload.get("walletId")
    if not isinstance(provider, str) or not provider:
        raise BadRequest("provider is required")
    if not isinstance(wallet_id, str) or not _WALLET_ID.fullmatch(wallet_id):
        raise BadRequest("walletId must be 3-64 letters, digits or ._@+-")
    return (_reference(payload, "reference"), provider, wallet_id, *_inr_amount(payload))


def _refund_request(payload: object) -> tuple[str, int, str]:
    if not isinstance(payload, dict):
        raise BadRequest("the body must be a JSON object")
    return (_reference(payload, "refundReference"), *_inr_amount(payload))
