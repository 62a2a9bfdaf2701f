"""The sandbox PSP over HTTP: ``UpiSandbox`` for in-process use, ``python -m flosspay_upi.sandbox`` standalone.

It serves ``flosspay_upi.simulator.UpiNetwork`` as JSON on a stdlib threading HTTP server. It never
moves real money; it exists so that FlossPay runs, and its tests prove exactly-once, without a bank.

Endpoints: ``POST /v1/payments``, ``GET /v1/payments/{reference}``, ``POST /v1/refunds``,
``GET /v1/debits[?reference=…]``, ``POST /v1/reset``, ``GET /v1/health``.
"""

from __future__ import annotations

import argparse
import contextlib
import hmac
import json
import math
import os
import signal
import socket
import sys
import threading
import time
from collections.abc import Mapping, Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from flosspay_upi.simulator import Answer, UpiNetwork

MAX_BODY_BYTES = 64 * 1024
DEFAULT_SLOW_SECONDS = 3.0
DEFAULT_COLLECT_APPROVE_SECONDS = 1.0
_PAYMENT_PREFIX = "/v1/payments/"


class SandboxSettingsError(ValueError):
    """A sandbox setting is unusable; the message is one line naming it."""


def _seconds(settings: Mapping[str, str], key: str, default: float) -> float:
    value = settings.get(key)
    if value is None or value == "":
        return default
    try:
        seconds = float(value)
    except ValueError:
        seconds = math.nan
    if not math.isfinite(seconds) or seconds < 0:
        raise SandboxSettingsError(f"FLOSSPAY_UPI_{key.upper()} must be a number of seconds >= 0, got {value!r}")
    return seconds


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], network: UpiNetwork, api_key: str | None, verbose: bool) -> None:
        self.network = network
        self.api_key = api_key
        self.verbose = verbose
        self._connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()
        super().__init__(address, _Handler)

    def process_request(self, request: Any, client_address: Any) -> None:
        with self._connections_lock:
            self._connections.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        with self._connections_lock:
            self._connections.discard(request)
        super().shutdown_request(request)

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Quiet unless verbose: a client that hangs up is normal here, not worth a traceback."""
        if self.verbose:
            super().handle_error(request, client_address)

    def drop_connections(self) -> None:
        """End kept-alive and in-flight connections, so a stopped sandbox answers nobody."""
        with self._connections_lock:
            connections, self._connections = self._connections, set()
        for connection in connections:
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)


class _Handler(BaseHTTPRequestHandler):
    """Routes JSON requests to the network; keeps connections alive like a real PSP."""

    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body go out as two writes; without this each answer waits ~40 ms
    server_version = "FlossPayUpiSandbox/0.1"
    timeout = 60  # seconds an idle keep-alive connection may hold a thread
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
        except Exception as exc:  # a sandbox bug must still answer, as a real PSP's 500 would
            answer = Answer(500, {"error": f"sandbox error ({type(exc).__name__})"})
        if answer.delay_seconds > 0:
            time.sleep(answer.delay_seconds)
        try:
            self._send(answer)
        except OSError:  # the client gave up (timed out, was killed): the debit stands, nobody hears
            self.close_connection = True

    def _route(self, method: str) -> Answer:
        url = urlsplit(self.path)
        path = url.path
        if method == "GET" and path == "/v1/health":
            return Answer(200, {"status": "ok"})
        if not self._authorized():
            return Answer(401, {"error": "missing or wrong API key"})
        network = self.server.network
        if method == "GET" and path.startswith(_PAYMENT_PREFIX) and len(path) > len(_PAYMENT_PREFIX):
            return network.lookup(unquote(path[len(_PAYMENT_PREFIX) :]))
        if method == "GET" and path == "/v1/debits":
            references = parse_qs(url.query).get("reference")
            return network.debits(references[0] if references else None)
        if method == "POST" and path in ("/v1/payments", "/v1/refunds", "/v1/reset"):
            payload = self._json_body()
            if isinstance(payload, Answer):
                return payload
            if path == "/v1/payments":
                return network.submit(payload)
            if path == "/v1/refunds":
                return network.refund(payload)
            return network.reset()
        return Answer(404, {"error": f"no endpoint {method} {path}"})

    def _authorized(self) -> bool:
        key = self.server.api_key
        if not key:
            return True
        given = self.headers.get("Authorization", "")
        return hmac.compare_digest(given.encode(), f"Bearer {key}".encode())

    def _json_body(self) -> object:
        length_header = self.headers.get("Content-Length")
        if length_header is None or not length_header.isdigit():
            self.close_connection = True
            return Answer(411, {"error": "Content-Length is required"})
        length = int(length_header)
        if length > MAX_BODY_BYTES:
            self.close_connection = True
            return Answer(413, {"error": f"body larger than {MAX_BODY_BYTES} bytes"})
        raw = self.rfile.read(length) if length else b""
        if not raw:
            return {}
        try:
            return json.loads(raw)
        except ValueError:
            return Answer(400, {"code": "U07", "error": "the body is not valid JSON"})

    def _send(self, answer: Answer) -> None:
        body = json.dumps(answer.body).encode()
        self.send_response(answer.http_status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


class UpiSandbox:
    """The sandbox PSP in a background thread: ``start(host, port)`` → base URL, ``stop()``."""

    def __init__(
        self,
        settings: Mapping[str, str] | None = None,
        *,
        network: UpiNetwork | None = None,
        verbose: bool = False,
    ) -> None:
        """``settings``: ``slow_seconds``, ``collect_approve_seconds`` and ``api_key`` (required of callers if set)."""
        settings = settings or {}
        self.network = network or UpiNetwork(
            slow_seconds=_seconds(settings, "slow_seconds", DEFAULT_SLOW_SECONDS),
            collect_approve_seconds=_seconds(settings, "collect_approve_seconds", DEFAULT_COLLECT_APPROVE_SECONDS),
        )
        self._api_key = settings.get("api_key") or None
        self._verbose = verbose
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self.base_url: str | None = None

    def __repr__(self) -> str:
        return f"UpiSandbox(base_url={self.base_url!r})"

    def start(self, host: str = "127.0.0.1", port: int = 0) -> str:
        """Listen on ``host:port`` (0: any free port) and return the base URL once connections are accepted."""
        if self._server is not None:
            raise RuntimeError(f"the UPI sandbox is already running at {self.base_url}")
        server = _Server((host, port), self.network, self._api_key, self._verbose)
        bound_port = server.server_address[1]
        shown_host = f"[{host}]" if ":" in host else host
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.1}, name="upi-sandbox", daemon=True
        )
        self._thread.start()
        self.base_url = f"http://{shown_host}:{bound_port}"
        return self.base_url

    def stop(self) -> None:
        """Stop serving and free the port; safe to call twice."""
        server, thread = self._server, self._thread
        self._server = self._thread = None
        if server is not None:
            server.shutdown()
            server.server_close()
            server.drop_connections()
        if thread is not None:
            thread.join(timeout=5)

    def __enter__(self) -> UpiSandbox:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _settings_from_environment() -> dict[str, str]:
    prefix = "FLOSSPAY_UPI_"
    return {k[len(prefix) :].lower(): v for k, v in os.environ.items() if k.startswith(prefix)}


def main(argv: Sequence[str] | None = None) -> int:
    """Run the sandbox until SIGTERM or SIGINT; prints the base URL on one line once it listens."""
    env = _settings_from_environment()
    parser = argparse.ArgumentParser(
        prog="python -m flosspay_upi.sandbox", description="FlossPay's UPI sandbox PSP (never moves real money)."
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=0, help="port to listen on (default 0: any free port)")
    parser.add_argument(
        "--slow-seconds", type=float, help="how long 'slow*' payers take (env FLOSSPAY_UPI_SLOW_SECONDS)"
    )
    parser.add_argument(
        "--collect-approve-seconds",
        type=float,
        help="how long collect payers take to answer (env FLOSSPAY_UPI_COLLECT_APPROVE_SECONDS)",
    )
    parser.add_argument("--verbose", action="store_true", help="log every request to stderr")
    args = parser.parse_args(argv)
    if not 0 <= args.port <= 65535:
        parser.error(f"--port must be between 0 and 65535, got {args.port}")
    if args.slow_seconds is not None:
        env["slow_seconds"] = str(args.slow_seconds)
    if args.collect_approve_seconds is not None:
        env["collect_approve_seconds"] = str(args.collect_approve_seconds)
    try:
        sandbox = UpiSandbox(env, verbose=args.verbose)
    except SandboxSettingsError as exc:
        parser.error(str(exc))
    try:
        url = sandbox.start(args.host, args.port)
    except OSError as exc:
        print(f"error: cannot listen on {args.host}:{args.port}: {exc.strerror or exc}", file=sys.stderr)
        return 1
    stopping = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stopping.set())
    print(url, flush=True)
    while not stopping.wait(0.5):
        pass
    sandbox.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
