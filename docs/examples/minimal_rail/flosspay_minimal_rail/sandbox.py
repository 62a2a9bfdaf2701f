"""A sandbox PSP for the minimal rail: in memory, on loopback, never real money.

The account name picks the behaviour: ``decline-…`` is refused, ``busy-…`` answers 503 (nothing
done), ``unsure-…`` pays but answers 500, ``slow-…`` pays but answers after ``sandbox_slow_seconds``;
any other account pays at once. ``GET /accounts/{account}`` tells how much it was charged.
"""

from __future__ import annotations

import contextlib
import json
import threading
import time
from collections.abc import Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


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


class MinimalSandbox:
    """``start(host, port)`` serves in a background thread and returns the base URL; ``stop()`` ends it."""

    def __init__(self, settings: Mapping[str, str]) -> None:
        self.api_key = settings.get("api_key", "demo-key")
        self.slow_seconds = float(settings.get("sandbox_slow_seconds", "3"))
        self.ledger = Ledger()
        self._server: ThreadingHTTPServer | None = None

    def start(self, host: str, port: int) -> str:
        sandbox = self

        class Handler(_Handler):
            owner = sandbox

        self._server = ThreadingHTTPServer((host, port), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return f"http://{host}:{self._server.server_address[1]}"

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()


class _Handler(BaseHTTPRequestHandler):
    owner: MinimalSandbox

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        pass

    def do_GET(self) -> None:
        ledger = self.owner.ledger
        kind, _, key = self.path.strip("/").partition("/")
        if not self._authorised():
            return
        with ledger.lock:
            if kind == "payments" and key in ledger.payments:
                return self._send(200, ledger.payments[key])
            if kind == "accounts":
                return self._send(200, {"charged": ledger.charged.get(key, 0)})
        self._send(404, {"error": "not found"})

    def do_POST(self) -> None:
        if not self._authorised():
            return
        body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))) or b"{}")
        if self.path == "/payments":
            status, answer, new = self.owner.ledger.pay(body)
            if new and body["account"].startswith("slow-"):
                time.sleep(self.owner.slow_seconds)
            return self._send(status, answer)
        if self.path == "/refunds":
            return self._send(*self.owner.ledger.refund(body))
        self._send(404, {"error": "not found"})

    def _authorised(self) -> bool:
        if self.headers.get("Authorization") == f"Bearer {self.owner.api_key}":
            return True
        self._send(401, {"error": "bad API key"})
        return False

    def _send(self, status: int, body: dict[str, Any]) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):  # the rail gave up waiting: fine
            self.wfile.write(data)
