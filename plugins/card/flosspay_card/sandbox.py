"""The card sandbox PSP over HTTP: ``CardSandbox`` in-process, ``python -m flosspay_card.sandbox`` standalone.

Serves ``CardProcessor`` as JSON on a stdlib threading HTTP server, on loopback by default. It never
moves real money. Endpoints (all but health need ``Authorization: Bearer <api key>``):

- ``POST /v1/tokens``: card → ``{token, scheme, last4}`` (the vault keeps the card; the CVV is dropped)
- ``POST /v1/charges``: ``{reference, token, amountMinor, currency}``, exactly once per reference
- ``GET /v1/charges/{reference}``
- ``POST /v1/charges/{reference}/refunds``: ``{refundReference, amountMinor, currency}``
- ``GET /v1/sandbox/tokens/{token}``: how much was charged on a token (sandbox only, for tests)
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

from flosspay_card.processor import Answer, CardProcessor
from flosspay_card.settings import SANDBOX_API_KEY, seconds

MAX_BODY_BYTES = 64 * 1024
DEFAULT_THREE_DS_SECONDS = 2.0
DEFAULT_SLOW_SECONDS = 5.0


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], processor: CardProcessor, api_key: str, verbose: bool) -> None:
        self.processor = processor
        self.api_key = api_key
        self.verbose = verbose
        super().__init__(address, _Handler)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "FlossPayCardSandbox/0.1"
    timeout = 60
    server: _Server

    def do_GET(self) -> None:
        self._dispatch("GET")

    def do_POST(self) -> None:
        self._dispatch("POST")

    def log_message(self, format: str, *args: Any) -> None:
        if self.server.verbose:  # request lines only: card data travels in bodies, never in paths
            super().log_message(format, *args)

    def _dispatch(self, method: str) -> None:
        try:
            answer = self._route(method)
        except Exception as exc:  # a sandbox bug still answers, as a real PSP's 500 would
            answer = Answer(500, {"code": "internal_error", "error": f"sandbox error ({type(exc).__name__})"})
        if answer.delay_seconds > 0:
            time.sleep(answer.delay_seconds)
        self._send(answer)

    def _route(self, method: str) -> Answer:
        path = urlsplit(self.path).path
        parts = [unquote(p) for p in path.strip("/").split("/")]
        if method == "GET" and parts == ["v1", "health"]:
            return Answer(200, {"status": "ok"})
        if not self._authorised():
            return Answer(401, {"code": "unauthorised", "error": "missing or wrong API key"})
        processor = self.server.processor
        if method == "GET" and len(parts) == 3 and parts[:2] == ["v1", "charges"]:
            return processor.lookup(parts[2])
        if method == "GET" and len(parts) == 4 and parts[:3] == ["v1", "sandbox", "tokens"]:
            return processor.token_ledger(parts[3])
        if method == "POST":
            payload = self._json_body()
            if isinstance(payload, Answer):
                return payload
            if parts == ["v1", "tokens"]:
                return processor.tokenise(payload)
            if parts == ["v1", "charges"]:
                return processor.charge(payload)
            if len(parts) == 4 and parts[:2] == ["v1", "charges"] and parts[3] == "refunds":
                return processor.refund(parts[2], payload)
        return Answer(404, {"code": "no_route", "error": f"no endpoint {method} {path}"})

    def _authorised(self) -> bool:
        given = self.headers.get("Authorization", "")
        return hmac.compare_digest(given.encode(), f"Bearer {self.server.api_key}".encode())

    def _json_body(self) -> object:
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            return Answer(400, {"code": "bad_request", "error": "invalid Content-Length"})
        if length > MAX_BODY_BYTES:
            return Answer(413, {"code": "too_large", "error": "body too large"})
        raw = self.rfile.read(length) if length else b""
        try:
            return json.loads(raw) if raw else None
        except (UnicodeDecodeError, json.JSONDecodeError):
            return Answer(400, {"code": "bad_request", "error": "the body must be JSON"})

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


class CardSandbox:
    """The sandbox as ``flosspay_sandbox`` returns it: ``start(host, port) -> base_url`` and ``stop()``.

    Settings (``FLOSSPAY_CARD_<KEY>``): ``api_key`` (default the sandbox test key),
    ``sandbox_three_ds_seconds`` (default 2), ``sandbox_slow_seconds`` (default 5).
    """

    def __init__(self, settings: Mapping[str, str] | None = None, *, verbose: bool = False) -> None:
        settings = settings or {}
        self.api_key = settings.get("api_key") or SANDBOX_API_KEY
        self.processor = CardProcessor(
            three_ds_seconds=seconds(
                "sandbox_three_ds_seconds",
                settings.get("sandbox_three_ds_seconds"),
                DEFAULT_THREE_DS_SECONDS,
                allow_zero=True,
            ),
            slow_seconds=seconds(
                "sandbox_slow_seconds", settings.get("sandbox_slow_seconds"), DEFAULT_SLOW_SECONDS, allow_zero=True
            ),
        )
        self._verbose = verbose
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    def __repr__(self) -> str:
        return f"CardSandbox(running={self._server is not None})"

    def start(self, host: str = "127.0.0.1", port: int = 0) -> str:
        """Serve in a background thread; returns once connections are accepted."""
        if self._server is not None:
            raise RuntimeError("the card sandbox is already running")
        self._server = _Server((host, port), self.processor, self.api_key, self._verbose)
        self._thread = threading.Thread(target=self._server.serve_forever, name="card-sandbox", daemon=True)
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
    """``python -m flosspay_card.sandbox --port 8402``: run until interrupted."""
    parser = argparse.ArgumentParser(prog="python -m flosspay_card.sandbox", description="FlossPay card sandbox PSP")
    parser.add_argument("--host", default="127.0.0.1", help="interface to bind (default loopback)")
    parser.add_argument("--port", type=int, default=8402, help="port (0 picks a free one)")
    parser.add_argument("--api-key", default=SANDBOX_API_KEY, help="the Bearer key callers must send")
    parser.add_argument("--three-ds-seconds", default=str(DEFAULT_THREE_DS_SECONDS), help="3-D Secure delay")
    parser.add_argument("--slow-seconds", default=str(DEFAULT_SLOW_SECONDS), help="answer delay of the slow card")
    parser.add_argument("--verbose", action="store_true", help="log request lines to stderr")
    args = parser.parse_args(argv)
    settings = {
        "api_key": args.api_key,
        "sandbox_three_ds_seconds": args.three_ds_seconds,
        "sandbox_slow_seconds": args.slow_seconds,
    }
    try:
        sandbox = CardSandbox(settings, verbose=args.verbose)
        url = sandbox.start(args.host, args.port)
    except (ValueError, OSError) as exc:
        print(f"card sandbox: {exc}", file=sys.stderr)
        return 2
    print(f"card sandbox PSP listening on {url}", flush=True)
    stopped = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stopped.set())
    stopped.wait()
    sandbox.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
