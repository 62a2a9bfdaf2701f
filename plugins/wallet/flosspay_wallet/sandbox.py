"""The wallet sandbox over HTTP: ``WalletSandbox`` in-process, ``python -m flosspay_wallet.sandbox`` standalone.

Serves ``WalletProvider`` as JSON on a stdlib threading HTTP server, on loopback by default. It never
moves real money. Endpoints (all but health need ``Authorization: Bearer <api key>``):

- ``POST /v1/debits``: ``{reference, provider, walletId, amountMinor, currency}``, exactly once per reference
- ``GET /v1/debits/{reference}``
- ``POST /v1/debits/{reference}/refunds``: ``{refundReference, amountMinor, currency}``
- ``GET /v1/sandbox/wallets/{provider}/{walletId}``: balance and totals (sandbox only, for tests)
- ``GET /v1/health``
"""

from __future__ import annotations

import argparse
import hmac
import json
import signal
import sys
import threading
import time
from collections.abc import Mapping, Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import unquote, urlsplit

from flosspay_wallet.provider import Answer, WalletProvider
from flosspay_wallet.settings import SANDBOX_API_KEY, seconds

MAX_BODY_BYTES = 64 * 1024
DEFAULT_SLOW_SECONDS = 5.0


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], provider: WalletProvider, api_key: str, verbose: bool) -> None:
        self.provider = provider
        self.api_key = api_key
        self.verbose = verbose
        super().__init__(address, _Handler)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "FlossPayWalletSandbox/0.1"
    timeout = 60
    server: _Server

    def do_GET(self) -> None:
        self._dispatch("GET")

    def do_POST(self) -> None:
        self._dispatch("POST")

    def log_message(self, format: str, *args: Any) -> None:
        if self.server.verbose:
            super().log_message(format, *args)

    def _dispatch(self, method: str) -> None:
        try:
            answer = self._route(method)
        except Exception as exc:  # a sandbox bug still answers, as a real provider's 500 would
            answer = Answer(500, {"code": "INTERNAL", "error": f"sandbox error ({type(exc).__name__})"})
        if answer.delay_seconds > 0:
            time.sleep(answer.delay_seconds)
        self._send(answer)

    def _route(self, method: str) -> Answer:
        path = urlsplit(self.path).path
        parts = [unquote(p) for p in path.strip("/").split("/")]
        if method == "GET" and parts == ["v1", "health"]:
            return Answer(200, {"status": "ok"})
        if not self._authorised():
            return Answer(401, {"code": "UNAUTHORISED", "error": "missing or wrong API key"})
        provider = self.server.provider
        if method == "GET" and len(parts) == 3 and parts[:2] == ["v1", "debits"]:
            return provider.lookup(parts[2])
        if method == "GET" and len(parts) == 5 and parts[:3] == ["v1", "sandbox", "wallets"]:
            return provider.wallet(parts[3], parts[4])
        if method == "POST":
            payload = self._json_body()
            if isinstance(payload, Answer):
                return payload
            if parts == ["v1", "debits"]:
                return provider.debit(payload)
            if len(parts) == 4 and parts[:2] == ["v1", "debits"] and parts[3] == "refunds":
                return provider.refund(parts[2], payload)
        return Answer(404, {"code": "NO_ROUTE", "error": f"no endpoint {method} {path}"})

    def _authorised(self) -> bool:
        given = self.headers.get("Authorization", "")
        return hmac.compare_digest(given.encode(), f"Bearer {self.server.api_key}".encode())

    def _json_body(self) -> object:
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            return Answer(400, {"code": "BAD_REQUEST", "error": "invalid Content-Length"})
        if length > MAX_BODY_BYTES:
            return Answer(413, {"code": "TOO_LARGE", "error": "body too large"})
        raw = self.rfile.read(length) if length else b""
        try:
            return json.loads(raw) if raw else None
        except (UnicodeDecodeError, json.JSONDecodeError):
            return Answer(400, {"code": "BAD_REQUEST", "error": "the body must be JSON"})

    def _send(self, answer: Answer) -> None:
        data = json.dumps(answer.body).encode()
        try:
            self.send_response(answer.status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):  # the caller gave up waiting (a timed-out rail)
            self.close_connection = True


class WalletSandbox:
    """The sandbox as ``flosspay_sandbox`` returns it: ``start(host, port) -> base_url`` and ``stop()``.

    Settings (``FLOSSPAY_WALLET_<KEY>``): ``api_key`` (default the sandbox test key),
    ``sandbox_slow_seconds`` (default 5).
    """

    def __init__(self, settings: Mapping[str, str] | None = None, *, verbose: bool = False) -> None:
        settings = settings or {}
        self.api_key = settings.get("api_key") or SANDBOX_API_KEY
        slow = seconds(
            "sandbox_slow_seconds", settings.get("sandbox_slow_seconds"), DEFAULT_SLOW_SECONDS, allow_zero=True
        )
        self.provider = WalletProvider(slow_seconds=slow)
        self._verbose = verbose
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    def __repr__(self) -> str:
        return f"WalletSandbox(running={self._server is not None})"

    def start(self, host: str = "127.0.0.1", port: int = 0) -> str:
        """Serve in a background thread; returns once connections are accepted."""
        if self._server is not None:
            raise RuntimeError("the wallet sandbox is already running")
        self._server = _Server((host, port), self.provider, self.api_key, self._verbose)
        self._thread = threading.Thread(target=self._server.serve_forever, name="wallet-sandbox", daemon=True)
        self._thread.start()
        bound_host, bound_port = self._server.server_address[:2]
        host_text = bound_host.decode() if isinstance(bound_host, bytes) else str(bound_host)
        shown = f"[{host_text}]" if ":" in host_text else host_text
        return f"http://{shown}:{bound_port}"

    def stop(self) -> None:
        server, self._server = self._server, None
        if server is not None:
            server.shutdown()
            server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m flosspay_wallet.sandbox --port 8403``: run until interrupted."""
    parser = argparse.ArgumentParser(prog="python -m flosspay_wallet.sandbox", description="FlossPay wallet sandbox")
    parser.add_argument("--host", default="127.0.0.1", help="interface to bind (default loopback)")
    parser.add_argument("--port", type=int, default=8403, help="port (0 picks a free one)")
    parser.add_argument("--api-key", default=SANDBOX_API_KEY, help="the Bearer key callers must send")
    parser.add_argument("--slow-seconds", default=str(DEFAULT_SLOW_SECONDS), help="answer delay of slow wallets")
    parser.add_argument("--verbose", action="store_true", help="log request lines to stderr")
    args = parser.parse_args(argv)
    try:
        sandbox = WalletSandbox(
            {"api_key": args.api_key, "sandbox_slow_seconds": args.slow_seconds}, verbose=args.verbose
        )
        url = sandbox.start(args.host, args.port)
    except (ValueError, OSError) as exc:
        print(f"wallet sandbox: {exc}", file=sys.stderr)
        return 2
    print(f"wallet sandbox provider listening on {url}", flush=True)
    stopped = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stopped.set())
    stopped.wait()
    sandbox.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
