"""A sandbox PSP for the minimal rail: in memory, on loopback, never real money.

The account name picks the behaviour: ``decline-…`` is refused, ``busy-…`` answers 503 (nothing
done), ``unsure-…`` pays but answers 500, ``slow-…`` pays but answers after ``sandbox_slow_seconds``;
any other account pays at once. ``GET /accounts/{account}`` tells how much it was charged.
``SandboxServer`` from FlossPay's rail toolkit is the HTTP server: this module holds only the PSP.
"""

from __future__ import annotations

import threading
from typing import Any

from flosspay.railapi import RailSettings, Reply, SandboxRequest, SandboxServer, SettingsReader


class Ledger:
    """The PSP's books: one payment per reference, refunds capped at the amount paid."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.payments: dict[str, dict[str, Any]] = {}
        self.refunds: dict[str, dict[str, Any]] = {}
        self.charged: dict[str, int] = {}

    def pay(self, body: dict[str, Any]) -> tuple[int, dict[str, Any], bool]:
        """The answer to a payment, and whether it was new (a replay answers the record at once)."""
        with self.lock:
            known = self.payments.get(body["reference"])
            if known is not None:
                same = (known["account"], known["amountMinor"]) == (body["account"], body["amountMinor"])
                return (200, known, False) if same else (409, {"error": "reference reused"}, False)
            account = body["account"]
            if account.startswith("busy-"):
                return 503, {"error": "busy, nothing done"}, False
            declined = account.startswith("decline-")
            payment = {
                "reference": body["reference"],
                "account": account,
                "amountMinor": body["amountMinor"],
                "currency": body["currency"],
                "status": "declined" if declined else "completed",
                "code": "DECLINED" if declined else "OK",
                "refunded": 0,
            }
            self.payments[body["reference"]] = payment
            if not declined:
                self.charged[account] = self.charged.get(account, 0) + body["amountMinor"]
            return (500, {"error": "oops"}, True) if account.startswith("unsure-") else (200, payment, True)

    def refund(self, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        with self.lock:
            known = self.refunds.get(body["refundReference"])
            if known is not None:
                return 200, known
            payment = self.payments.get(body["reference"])
            if payment is None:
                return 404, {"error": "no such payment"}
            code = "OK"
            if payment["status"] != "completed" or payment["currency"] != body["currency"]:
                code = "NOT_REFUNDABLE"
            elif payment["refunded"] + body["amountMinor"] > payment["amountMinor"]:
                code = "EXCEEDS_AMOUNT"
            refund = {"status": "completed" if code == "OK" else "declined", "code": code}
            if code == "OK":
                payment["refunded"] += body["amountMinor"]
                self.refunds[body["refundReference"]] = refund
            return 200, refund


class MinimalSandbox(SandboxServer):
    """``start(host, port)`` serves in a background thread and returns the base URL; ``stop()`` ends it."""

    def __init__(self, settings: RailSettings) -> None:
        read = SettingsReader(settings, rail="minimal")
        super().__init__(api_key=read.secret(default="demo-key"))  # callers must send it as a Bearer token
        self.slow_seconds = read.seconds("sandbox_slow_seconds", 3.0, allow_zero=True)
        self.ledger = Ledger()

    def route(self, request: SandboxRequest) -> Reply | None:
        match request.method, request.parts, request.body:
            case "POST", ("payments",), dict(body):
                status, answer, new = self.ledger.pay(body)
                slow = new and body["account"].startswith("slow-")
                return Reply(status, answer, self.slow_seconds if slow else 0.0)
            case "POST", ("refunds",), dict(body):
                return Reply(*self.ledger.refund(body))
            case "GET", ("payments", reference), _:
                with self.ledger.lock:
                    payment = self.ledger.payments.get(reference)
                return Reply(200, payment) if payment else Reply(404, {"error": "not found"})
            case "GET", ("accounts", account), _:
                with self.ledger.lock:
                    return Reply(200, {"charged": self.ledger.charged.get(account, 0)})
        return None
