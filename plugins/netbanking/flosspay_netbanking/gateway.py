"""The sandbox's bank gateway: payments exactly once per reference, the bank's page, the customer's answer.

Pure logic behind one lock, no HTTP (``sandbox.py`` serves it). A payment waits for its customer
(``pending_customer``) until they approve or decline on the bank's page, or until
``expiry_seconds`` pass (``expired``). Test banks (``banks.TEST_BANKS``) behave on their own.
"""

from __future__ import annotations

import html
import re
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode, urlsplit, urlunsplit

from flosspay_netbanking.banks import Behaviour, bank_name, behaviour_of

from flosspay.railapi import Reply

_REFERENCE = re.compile(r"[\x21-\x7e]{1,128}")
_CODE = re.compile(r"[A-Z]{4}")
PENDING = "pending_customer"


@dataclass(slots=True)
class _Payment:
    reference: str
    bank: str
    amount_minor: int
    currency: str
    return_url: str
    session: str
    status: str  # pending_customer | approved | declined | expired
    code: str
    message: str
    bank_reference: str
    started: float
    auto_at: float = 0.0

    def same_request(self, bank: str, amount_minor: int, currency: str) -> bool:
        return (self.bank, self.amount_minor, self.currency) == (bank, amount_minor, currency)


class BankGateway:
    """Thread-safe; ``clock`` is monotonic seconds (injectable so tests need not sleep)."""

    def __init__(
        self,
        *,
        slow_seconds: float,
        auto_seconds: float,
        expiry_seconds: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.slow_seconds = slow_seconds
        self.auto_seconds = auto_seconds
        self.expiry_seconds = expiry_seconds
        self.page_base = ""  # the sandbox's base URL, for the bank page's address
        self._clock = clock
        self._lock = threading.Lock()
        self._payments: dict[str, _Payment] = {}
        self._sessions: dict[str, str] = {}  # page session -> reference
        self._captured: dict[str, int] = {}  # reference -> minor units taken

    # --- the merchant side (the rail) -------------------------------------------------------------

    def pay(self, payload: object) -> Reply:
        """Start a payment once per reference; a replay answers the recorded payment, at once."""
        try:
            reference, bank, amount_minor, currency, return_url = _pay_request(payload)
        except ValueError as exc:
            return Reply(400, {"code": "bad_request", "error": str(exc)})
        behaviour = behaviour_of(bank)
        with self._lock:
            known = self._payments.get(reference)
            if known is not None:
                if not known.same_request(bank, amount_minor, currency):
                    return Reply(409, {"code": "reference_reused", "error": "reference used for another payment"})
                self._resolve(known)
                return Reply(200, self._view(known))
            if behaviour is Behaviour.BUSY:
                return Reply(503, {"code": "bank_unavailable", "error": "the bank is busy; nothing was recorded"})
            now = self._clock()
            payment = _Payment(
                reference, bank, amount_minor, currency, return_url, secrets.token_urlsafe(16), PENDING,
                "PENDING", "waiting for the customer at the bank", f"NB{secrets.token_hex(6).upper()}", now,
            )  # fmt: skip
            if behaviour in (Behaviour.APPROVE, Behaviour.UNCERTAIN, Behaviour.SLOW):
                self._approve(payment)
            elif behaviour is Behaviour.DECLINE:
                payment.status, payment.code, payment.message = "declined", "BANK_DECLINED", "the bank declined"
            elif behaviour is Behaviour.AUTO:
                payment.auto_at = now + self.auto_seconds
            self._payments[reference] = payment
            self._sessions[payment.session] = reference
            view = self._view(payment)
        if behaviour is Behaviour.UNCERTAIN:
            return Reply(500, {"code": "internal_error", "error": "internal error"})
        if behaviour is Behaviour.SLOW:
            return Reply(200, view, self.slow_seconds)
        return Reply(200, view)

    def lookup(self, reference: str) -> Reply:
        with self._lock:
            payment = self._payments.get(reference)
            if payment is None:
                return Reply(404, {"code": "not_found", "error": "no such payment"})
            self._resolve(payment)
            return Reply(200, self._view(payment))

    def captured(self, reference: str) -> Reply:
        """How much was taken for a reference (sandbox only, so tests can see a double charge)."""
        with self._lock:
            payment = self._payments.get(reference)
            if payment is not None:
                self._resolve(payment)
            return Reply(200, {"reference": reference, "capturedMinor": self._captured.get(reference, 0)})

    # --- the customer side (a browser) -------------------------------------------------------------

    def page(self, session: str) -> Reply:
        """The bank's page: who is paid how much, with Approve and Decline buttons."""
        with self._lock:
            payment = self._by_session(session)
            if payment is None:
                return Reply.page(_page("Unknown payment", "<p>This payment link is not valid.</p>"), 404)
            self._resolve(payment)
            if payment.status != PENDING:
                return Reply.page(_page(bank_name(payment.bank), f"<p>This payment is {payment.status}.</p>"))
            amount = f"{payment.amount_minor // 100}.{payment.amount_minor % 100:02d} {payment.currency}"
            bank = bank_name(payment.bank)
        form = (
            f"<p>Pay <strong>{html.escape(amount)}</strong> from your {html.escape(bank)} account"
            " (sandbox: no real money moves).</p>"
            f'<form method="post" action="/bank/{html.escape(session)}">'
            '<button name="decision" value="approve">Approve</button> '
            '<button name="decision" value="decline">Decline</button></form>'
        )
        return Reply.page(_page(bank, form))

    def answer(self, session: str, form: object) -> Reply:
        """The customer's choice; then back to the merchant's ``returnUrl`` (303)."""
        decision = form.get("decision") if isinstance(form, dict) else None
        with self._lock:
            payment = self._by_session(session)
            if payment is None:
                return Reply.page(_page("Unknown payment", "<p>This payment link is not valid.</p>"), 404)
            self._resolve(payment)
            if payment.status == PENDING and decision == "approve":
                self._approve(payment)
            elif payment.status == PENDING and decision == "decline":
                payment.status, payment.code, payment.message = "declined", "CUSTOMER_DECLINED", "the customer declined"
            elif payment.status == PENDING:
                return Reply.page(_page(bank_name(payment.bank), "<p>Choose Approve or Decline.</p>"), 400)
            target = _with_query(payment.return_url, {"reference": payment.reference, "status": payment.status})
        return Reply.redirect(target)

    # --- internals (lock held) ----------------------------------------------------------------

    def _by_session(self, session: str) -> _Payment | None:
        reference = self._sessions.get(session)
        return self._payments.get(reference) if reference is not None else None

    def _approve(self, payment: _Payment) -> None:
        payment.status, payment.code, payment.message = "approved", "00", "approved by the customer's bank"
        self._captured[payment.reference] = self._captured.get(payment.reference, 0) + payment.amount_minor

    def _resolve(self, payment: _Payment) -> None:
        """The simulated customer of a test bank approves on time; a real-bank session expires."""
        if payment.status != PENDING:
            return
        now = self._clock()
        if payment.auto_at and now >= payment.auto_at:
            self._approve(payment)
        elif now >= payment.started + self.expiry_seconds:
            payment.status, payment.code, payment.message = "expired", "SESSION_EXPIRED", "the customer never answered"

    def _view(self, payment: _Payment) -> dict[str, Any]:
        view: dict[str, Any] = {
            "reference": payment.reference,
            "bank": payment.bank,
            "bankReference": payment.bank_reference,
            "status": payment.status,
            "code": payment.code,
            "message": payment.message,
            "amountMinor": payment.amount_minor,
            "currency": payment.currency,
        }
        if payment.status == PENDING:
            view["redirectUrl"] = f"{self.page_base}/bank/{payment.session}"
        return view


def _page(title: str, body: str) -> str:
    return (
        f'<!doctype html><html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title></head>'
        f"<body><h1>{html.escape(title)}</h1>{body}</body></html>"
    )


def _with_query(url: str, params: dict[str, str]) -> str:
    parts = urlsplit(url)
    query = f"{parts.query}&{urlencode(params)}" if parts.query else urlencode(params)
    return urlunsplit((parts.scheme, parts.netloc, parts.path, query, parts.fragment))


def _pay_request(payload: object) -> tuple[str, str, int, str, str]:
    if not isinstance(payload, dict):
        raise ValueError("the body must be a JSON object")
    reference, bank = payload.get("reference"), payload.get("bank")
    minor, currency, return_url = payload.get("amountMinor"), payload.get("currency"), payload.get("returnUrl")
    if not isinstance(reference, str) or not _REFERENCE.fullmatch(reference):
        raise ValueError("reference must be 1-128 printable characters")
    if not isinstance(bank, str) or not _CODE.fullmatch(bank):
        raise ValueError("bank must be a four-letter bank code")
    if isinstance(minor, bool) or not isinstance(minor, int) or minor <= 0:
        raise ValueError("amountMinor must be a positive integer")
    if not isinstance(currency, str) or not re.fullmatch(r"[A-Z]{3}", currency):
        raise ValueError("currency must be an ISO 4217 code")
    if not isinstance(return_url, str) or urlsplit(return_url).scheme not in ("http", "https"):
        raise ValueError("returnUrl must be an http(s) URL")
    return reference, bank, minor, currency, return_url
