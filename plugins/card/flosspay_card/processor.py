"""The sandbox's card processor: a token vault, charges exactly once per reference, capped refunds.

Pure logic behind one lock, no HTTP (``sandbox.py`` serves it). The vault is the only place a card
number lives: this is the PSP's side of the tokenisation boundary, so the rail never keeps one.
The CVV is checked at tokenisation and then forgotten, as PCI DSS requires.
"""

from __future__ import annotations

import re
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from flosspay_card import testcards
from flosspay_card.cards import cvv_length, luhn_valid, normalise, scheme_of
from flosspay_card.testcards import Behaviour

from flosspay.railapi import Reply

_REFERENCE = re.compile(r"[\x21-\x7e]{1,128}")
_CURRENCY = re.compile(r"[A-Z]{3}")


@dataclass(slots=True)
class _VaultEntry:
    pan: str
    expiry_month: int
    expiry_year: int


@dataclass(slots=True)
class _Charge:
    reference: str
    token: str
    amount_minor: int
    currency: str
    status: str  # succeeded | declined | requires_action
    code: str
    message: str
    charge_id: str
    action_until: float = 0.0
    refunded_minor: int = 0
    refunds: dict[str, dict[str, Any]] = field(default_factory=dict)

    def same_request(self, token: str, amount_minor: int, currency: str) -> bool:
        return (self.token, self.amount_minor, self.currency) == (token, amount_minor, currency)


class BadRequest(Exception):
    """The request is malformed; the message names the field (never echoes a value)."""


class CardProcessor:
    """Thread-safe; ``clock`` is monotonic seconds (injectable so tests need not sleep)."""

    def __init__(
        self, *, three_ds_seconds: float, slow_seconds: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.three_ds_seconds = three_ds_seconds
        self.slow_seconds = slow_seconds
        self.page_base = ""  # the sandbox's base URL, for the 3-D Secure challenge page's address
        self._clock = clock
        self._lock = threading.Lock()
        self._vault: dict[str, _VaultEntry] = {}
        self._charges: dict[str, _Charge] = {}
        self._captured: dict[str, int] = {}  # token -> minor units charged

    # --- tokenisation -----------------------------------------------------------------------------

    def tokenise(self, payload: object) -> Reply:
        """Keep the card in the vault and answer a random token; the CVV is checked, then dropped."""
        if not isinstance(payload, dict):
            return _bad("the body must be a JSON object")
        number = payload.get("number")
        digits = normalise(number) if isinstance(number, str) else None
        if digits is None or not 12 <= len(digits) <= 19 or not luhn_valid(digits):
            return Reply(422, {"code": "invalid_number", "field": "number", "error": "not a valid card number"})
        scheme = scheme_of(digits)
        month, year, cvv = payload.get("expiryMonth"), payload.get("expiryYear"), payload.get("cvv")
        if not isinstance(month, int) or not 1 <= month <= 12 or not isinstance(year, int):
            return Reply(422, {"code": "invalid_expiry", "field": "expiryMonth", "error": "invalid expiry"})
        if not isinstance(cvv, str) or not cvv.isdigit() or len(cvv) not in cvv_length(scheme):
            return Reply(422, {"code": "invalid_cvc", "field": "cvv", "error": "invalid security code"})
        special = testcards.behaviour_of(digits)
        if special is not None and special.behaviour is Behaviour.WRONG_CVV:
            return Reply(422, {"code": "incorrect_cvc", "field": "cvv", "error": "the security code is wrong"})
        token = f"tok_{secrets.token_urlsafe(18)}"
        with self._lock:
            self._vault[token] = _VaultEntry(digits, month, year)
        body = {"token": token, "scheme": scheme.value if scheme else "unknown", "last4": digits[-4:]}
        return Reply(201, body)

    # --- charges ----------------------------------------------------------------------------------

    def charge(self, payload: object) -> Reply:
        """Charge a token once per reference; a replay answers the recorded charge, at once."""
        try:
            reference, token, amount_minor, currency = _charge_request(payload)
        except BadRequest as exc:
            return _bad(str(exc))
        with self._lock:
            known = self._charges.get(reference)
            if known is not None:
                if not known.same_request(token, amount_minor, currency):
                    return Reply(409, {"code": "reference_reused", "error": "reference used for another charge"})
                self._resolve(known)
                return Reply(200, self._view(known))
            card = self._vault.get(token)
            if card is None:
                return Reply(422, {"code": "invalid_token", "error": "unknown card token"})
            special = testcards.behaviour_of(card.pan)
            behaviour = special.behaviour if special else Behaviour.APPROVE
            if behaviour is Behaviour.TRANSIENT:
                return Reply(503, {"code": "processing_error", "error": "try again later; nothing was charged"})
            charge = _Charge(reference, token, amount_minor, currency, "succeeded", "00", "approved", _charge_id())
            if behaviour is Behaviour.DECLINE and special is not None:
                charge.status, charge.code, charge.message = "declined", special.code or "05", special.meaning
            elif behaviour is Behaviour.THREE_D_SECURE:
                charge.status, charge.code, charge.message = "requires_action", "3DS", "3-D Secure required"
                charge.action_until = self._clock() + self.three_ds_seconds
            else:
                self._capture(charge)
            self._charges[reference] = charge
            view = self._view(charge)
        if behaviour is Behaviour.UNCERTAIN:
            return Reply(500, {"code": "internal_error", "error": "internal error"})
        if behaviour is Behaviour.SLOW:
            return Reply(200, view, self.slow_seconds)
        return Reply(200, view)

    def lookup(self, reference: str) -> Reply:
        with self._lock:
            charge = self._charges.get(reference)
            if charge is None:
                return Reply(404, {"code": "not_found", "error": "no such charge"})
            self._resolve(charge)
            return Reply(200, self._view(charge))

    # --- refunds ----------------------------------------------------------------------------------

    def refund(self, reference: str, payload: object) -> Reply:
        """Refund part of a charge once per refund reference; all refunds together at most the amount."""
        try:
            refund_reference, amount_minor, currency = _refund_request(payload)
        except BadRequest as exc:
            return _bad(str(exc))
        with self._lock:
            charge = self._charges.get(reference)
            if charge is None:
                return Reply(404, {"code": "not_found", "error": "no such charge"})
            self._resolve(charge)
            known = charge.refunds.get(refund_reference)
            if known is not None:
                if (known["amountMinor"], known["currency"]) != (amount_minor, currency):
                    return Reply(409, {"code": "reference_reused", "error": "refund reference used differently"})
                return Reply(200, dict(known))
            code = "00"
            card = self._vault.get(charge.token)
            special = testcards.behaviour_of(card.pan) if card is not None else None
            if charge.status != "succeeded":
                code = "not_captured"
            elif special is not None and special.behaviour is Behaviour.NO_REFUND:
                code = "refund_declined"
            elif currency != charge.currency:
                code = "currency_mismatch"
            elif charge.refunded_minor + amount_minor > charge.amount_minor:
                code = "exceeds_amount"
            body = {
                "refundReference": refund_reference,
                "reference": reference,
                "amountMinor": amount_minor,
                "currency": currency,
                "status": "succeeded" if code == "00" else "declined",
                "code": code,
            }
            if code == "00":
                charge.refunded_minor += amount_minor
                body["refundedMinor"] = charge.refunded_minor
                charge.refunds[refund_reference] = body
            return Reply(200, dict(body))

    def refunds(self, reference: str | None = None) -> Reply:
        """Every refund made (each refund reference once), optionally of one charge's reference."""
        with self._lock:
            rows = [
                dict(body)
                for charge in self._charges.values()
                if reference is None or charge.reference == reference
                for body in charge.refunds.values()
            ]
        return Reply(200, {"refunds": rows})

    # --- 3-D Secure challenge (the cardholder's browser) ----------------------------------------

    def challenge_page(self, charge_id: str) -> Reply:
        """The issuer's challenge page: the amount, and Approve / Fail buttons."""
        with self._lock:
            charge = self._by_charge_id(charge_id)
            if charge is None:
                return Reply.page(_page("Unknown payment", "<p>No such 3-D Secure challenge.</p>"), 404)
            self._resolve(charge)
            if charge.status != "requires_action":
                return Reply.page(_page("3-D Secure", f"<p>This payment is already {charge.status}.</p>"))
            amount = f"{charge.amount_minor / 100:.2f} {charge.currency}"
        form = (
            f"<p>Confirm the payment of <strong>{amount}</strong> (sandbox: no real money moves).</p>"
            f'<form method="post" action="/3ds/{charge_id}">'
            '<button name="decision" value="approve">Approve</button> '
            '<button name="decision" value="fail">Fail authentication</button></form>'
        )
        return Reply.page(_page("3-D Secure challenge", form))

    def challenge_answer(self, charge_id: str, form: object) -> Reply:
        """The cardholder's answer: approve captures the charge, fail declines it."""
        decision = form.get("decision") if isinstance(form, dict) else None
        with self._lock:
            charge = self._by_charge_id(charge_id)
            if charge is None:
                return Reply.page(_page("Unknown payment", "<p>No such 3-D Secure challenge.</p>"), 404)
            if charge.status == "requires_action" and decision == "approve":
                charge.status, charge.code, charge.message = "succeeded", "00", "approved after 3-D Secure"
                self._capture(charge)
            elif charge.status == "requires_action" and decision == "fail":
                charge.status, charge.code, charge.message = "declined", "3DS_FAILED", "3-D Secure failed"
            status = charge.status
        return Reply.page(_page("3-D Secure", f"<p>Payment {status}. You may close this page.</p>"))

    def _by_charge_id(self, charge_id: str) -> _Charge | None:
        return next((c for c in self._charges.values() if c.charge_id == charge_id), None)

    # --- sandbox-only view ------------------------------------------------------------------------

    def token_ledger(self, token: str) -> Reply:
        """How much was charged on a token (for tests that must see a double charge)."""
        with self._lock:
            if token not in self._vault:
                return Reply(404, {"code": "not_found", "error": "no such token"})
            for charge in self._charges.values():
                self._resolve(charge)
            return Reply(200, {"token": token, "capturedMinor": self._captured.get(token, 0)})

    # --- internals (lock held) ----------------------------------------------------------------

    def _view(self, charge: _Charge) -> dict[str, Any]:
        return _view(charge, self.page_base)

    def _capture(self, charge: _Charge) -> None:
        self._captured[charge.token] = self._captured.get(charge.token, 0) + charge.amount_minor

    def _resolve(self, charge: _Charge) -> None:
        """The simulated cardholder passes 3-D Secure once ``three_ds_seconds`` have gone by."""
        if charge.status == "requires_action" and self._clock() >= charge.action_until:
            charge.status, charge.code, charge.message = "succeeded", "00", "approved after 3-D Secure"
            self._capture(charge)


def _view(charge: _Charge, page_base: str = "") -> dict[str, Any]:
    view: dict[str, Any] = {
        "reference": charge.reference,
        "chargeId": charge.charge_id,
        "status": charge.status,
        "code": charge.code,
        "message": charge.message,
        "amountMinor": charge.amount_minor,
        "currency": charge.currency,
        "refundedMinor": charge.refunded_minor,
    }
    if charge.status == "requires_action" and page_base:
        view["nextAction"] = {"type": "redirect", "url": f"{page_base}/3ds/{charge.charge_id}"}
    return view


def _page(title: str, body: str) -> str:
    return (
        f'<!doctype html><html lang="en"><head><meta charset="utf-8"><title>{title}</title></head>'
        f"<body><h1>{title}</h1>{body}</body></html>"
    )


def _charge_id() -> str:
    return f"ch_{secrets.token_hex(8)}"


def _bad(message: str) -> Reply:
    return Reply(400, {"code": "bad_request", "error": message})


def _reference(payload: dict[str, Any], key: str) -> str:
    value = payload.get(key)
    if not isinstance(value, str) or not _REFERENCE.fullmatch(value):
        raise BadRequest(f"{key} must be 1-128 printable characters")
    return value


def _amount(payload: dict[str, Any]) -> tuple[int, str]:
    minor, currency = payload.get("amountMinor"), payload.get("currency")
    if isinstance(minor, bool) or not isinstance(minor, int) or minor <= 0:
        raise BadRequest("amountMinor must be a positive integer")
    if not isinstance(currency, str) or not _CURRENCY.fullmatch(currency):
        raise BadRequest("currency must be an ISO 4217 code")
    return minor, currency


def _charge_request(payload: object) -> tuple[str, str, int, str]:
    if not isinstance(payload, dict):
        raise BadRequest("the body must be a JSON object")
    token = payload.get("token")
    if not isinstance(token, str) or not token:
        raise BadRequest("token is required")
    return (_reference(payload, "reference"), token, *_amount(payload))


def _refund_request(payload: object) -> tuple[str, int, str]:
    if not isinstance(payload, dict):
        raise BadRequest("the body must be a JSON object")
    return (_reference(payload, "refundReference"), *_amount(payload))
