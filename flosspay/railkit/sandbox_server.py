"""A base for sandbox PSPs: JSON over HTTP/1.1 on a stdlib threading server, run in a daemon thread.

A rail's sandbox subclasses ``SandboxServer`` and writes only ``route``: its endpoints, each
answering a ``Reply``. The base does what every sandbox needs and is easy to get subtly wrong:
keep-alive connections with Nagle off (else each answer waits ~40 ms for a delayed ACK), bounded
bodies, Bearer authentication, a health endpoint, a delay before answering (a slow PSP), quiet
handling of callers that hang up, and a ``stop`` that also ends kept-alive connections, so a
stopped sandbox answers nobody.
"""

from __future__ import annotations

import abc
import contextlib
import hmac
import json
import socket
import sys
import threading
import time
import traceback
from collections.abc import Mapping
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import MappingProxyType
from typing import Any, ClassVar, Self
from urllib.parse import parse_qs, unquote, urlsplit

DEFAULT_ERROR_CODES: Mapping[int, str] = MappingProxyType(
    {
        400: "BAD_REQUEST",
        401: "UNAUTHORISED",
        404: "NO_ROUTE",
        411: "LENGTH_REQUIRED",
        413: "TOO_LARGE",
        500: "INTERNAL",
    }
)
"""The ``code`` of the sandbox's own error answers, by HTTP status (a subclass may speak its PSP's dialect)."""


@dataclass(frozen=True, slots=True)
class Reply:
    """What the sandbox answers: an HTTP status, a JSON object, and how long to wait before sending it.

    A page for a customer's browser (a bank's or a 3-D Secure challenge) is ``Reply.page(html)``;
    sending the browser on is ``Reply.redirect(url)``.
    """

    status: int
    body: dict[str, Any] | str
    delay_seconds: float = 0.0
    content_type: str = "application/json"
    headers: tuple[tuple[str, str], ...] = ()

    @classmethod
    def page(cls, html: str, status: int = 200) -> Reply:
        """An HTML page (UTF-8), for a customer's browser."""
        return cls(status, html, content_type="text/html; charset=utf-8")

    @classmethod
    def redirect(cls, url: str) -> Reply:
        """303 See Other to ``url``: the browser follows with a GET (after a form's POST, too)."""
        return cls(303, "", content_type="text/plain", headers=(("Location", url),))


@dataclass(frozen=True, slots=True)
class SandboxRequest:
    """One request as ``route`` sees it; ``parts`` are the path's segments, decoded.

    ``GET /v1/charges/ch%2F1?x=2`` has ``parts == ("v1", "charges", "ch/1")``, so routes read well as
    ``match (request.method, request.parts)``. ``body`` is the decoded JSON (None when empty).
    """

    method: str
    path: str
    parts: tuple[str, ...]
    query: Mapping[str, list[str]]
    body: object

    def param(self, name: str) -> str | None:
        """The first value of query parameter ``name``, or None."""
        values = self.query.get(name)
        return values[0] if values else None


class SandboxServer(abc.ABC):
    """A sandbox PSP: ``start(host, port) -> base_url`` serves in a daemon thread, ``stop()`` ends it.

    Subclasses implement ``route`` and may set ``name`` (thread and server names), ``health_path``
    (answered ``{"status": "ok"}`` without a key; None for no health endpoint), ``browser_prefixes``
    (customer pages, no key; their form posts arrive as a dict of fields), ``error_codes`` and
    ``max_body_bytes``. With ``api_key`` set, every other request must carry
    ``Authorization: Bearer <api_key>`` or is answered 401. ``verbose`` logs request lines and
    handler errors to stderr; sandboxes are quiet otherwise.
    """

    name: ClassVar[str] = "sandbox"
    health_path: ClassVar[str | None] = "/v1/health"
    browser_prefixes: ClassVar[tuple[str, ...]] = ()
    """Path prefixes of pages a customer's browser opens: answered without the API key."""
    error_codes: ClassVar[Mapping[int, str]] = DEFAULT_ERROR_CODES
    max_body_bytes: ClassVar[int] = 64 * 1024

    def __init__(self, *, api_key: str | None = None, verbose: bool = False) -> None:
        self.api_key = api_key
        self.verbose = verbose
        self.base_url: str | None = None
        self._server: _HttpServer | None = None
        self._thread: threading.Thread | None = None

    def __repr__(self) -> str:  # never the API key
        return f"{type(self).__name__}(base_url={self.base_url!r})"

    @abc.abstractmethod
    def route(self, request: SandboxRequest) -> Reply | None:
        """The answer to ``request``, or None when no endpoint matches (answered 404)."""

    def error(self, status: int, message: str) -> Reply:
        """The sandbox's own error answer: ``{"code": error_codes[status], "error": message}``."""
        code = self.error_codes.get(status)
        return Reply(status, {"error": message} if code is None else {"code": code, "error": message})

    def start(self, host: str = "127.0.0.1", port: int = 0) -> str:
        """Listen on ``host:port`` (0: any free port); returns the base URL once connections are accepted."""
        if self._server is not None:
            raise RuntimeError(f"the {self.name} is already running at {self.base_url}")
        server = _HttpServer((host, port), self)
        bound_host, bound_port = server.server_address[:2]
        shown = bound_host.decode() if isinstance(bound_host, bytes) else str(bound_host)
        self.base_url = f"http://[{shown}]:{bound_port}" if ":" in shown else f"http://{shown}:{bound_port}"
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.1}, name=self.name, daemon=True
        )
        self._thread.start()
        return self.base_url

    def stop(self) -> None:
        """Stop serving, free the port and end open connections; safe to call twice."""
        server, thread = self._server, self._thread
        self._server = self._thread = None
        if server is not None:
            server.shutdown()
            server.server_close()
            server.drop_connections()
        if thread is not None:
            thread.join(timeout=5)

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def authorised(self, authorization: str | None) -> bool:
        """Whether the ``Authorization`` header carries the key (always, when the sandbox has none)."""
        if not self.api_key:
            return True
        return hmac.compare_digest((authorization or "").encode(), f"Bearer {self.api_key}".encode())


class _HttpServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128  # concurrent callers (the conformance suite sends six at once) are not refused

    def __init__(self, address: tuple[str, int], sandbox: SandboxServer) -> None:
        self.sandbox = sandbox
        self._connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()
        self.address_family = socket.AF_INET6 if ":" in address[0] else socket.AF_INET
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
        """Quiet unless verbose: a caller that hangs up is normal for a sandbox, not worth a traceback."""
        if self.sandbox.verbose:
            super().handle_error(request, client_address)

    def drop_connections(self) -> None:
        with self._connections_lock:
            connections, self._connections = self._connections, set()
        for connection in connections:
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as a real PSP
    disable_nagle_algorithm = True  # headers and body go out as two writes; without this each waits ~40 ms
    timeout = 60  # seconds an idle kept-alive connection may hold a thread
    server: _HttpServer

    def version_string(self) -> str:
        return f"FlossPay-{self.server.sandbox.name}/1"

    def do_GET(self) -> None:
        self._handle("GET")

    def do_POST(self) -> None:
        self._handle("POST")

    def do_PUT(self) -> None:
        self._handle("PUT")

    def do_PATCH(self) -> None:
        self._handle("PATCH")

    def do_DELETE(self) -> None:
        self._handle("DELETE")

    def log_message(self, format: str, *args: Any) -> None:
        if self.server.sandbox.verbose:  # request lines only; bodies (card data, keys) are never logged
            super().log_message(format, *args)

    def _handle(self, method: str) -> None:
        sandbox = self.server.sandbox
        try:
            reply = self._reply(sandbox, method)
        except Exception as exc:  # a sandbox bug still answers, as a real PSP's 500 would
            if sandbox.verbose:
                traceback.print_exc(file=sys.stderr)
            reply = sandbox.error(500, f"sandbox error ({type(exc).__name__})")
        if reply.delay_seconds > 0:
            time.sleep(reply.delay_seconds)
        try:
            self._send(reply)
        except OSError:  # the caller gave up (timed out, was killed): whatever was done stands, nobody hears
            self.close_connection = True

    def _reply(self, sandbox: SandboxServer, method: str) -> Reply:
        url = urlsplit(self.path)
        raw = self._raw_body(sandbox)
        if isinstance(raw, Reply):
            return raw
        if method == "GET" and url.path == sandbox.health_path:
            return Reply(200, {"status": "ok"})
        browser = any(url.path.startswith(prefix) for prefix in sandbox.browser_prefixes)
        if not browser and not sandbox.authorised(self.headers.get("Authorization")):
            return sandbox.error(401, "missing or wrong API key")
        body: object
        if browser and self.headers.get("Content-Type", "").startswith("application/x-www-form-urlencoded"):
            body = {key: values[0] for key, values in parse_qs(raw.decode("utf-8", "replace")).items()}
        else:
            try:
                body = json.loads(raw) if raw else None
            except ValueError:
                return sandbox.error(400, "the body must be JSON")
        parts = tuple(unquote(part) for part in url.path.strip("/").split("/"))
        request = SandboxRequest(method, url.path, parts, parse_qs(url.query), body)
        reply = sandbox.route(request)
        return reply if reply is not None else sandbox.error(404, f"no endpoint {method} {url.path}")

    def _raw_body(self, sandbox: SandboxServer) -> bytes | Reply:
        """The request's body, read in full so the connection stays in step; or why it cannot be."""
        if "Transfer-Encoding" in self.headers:
            self.close_connection = True
            return sandbox.error(411, "send the body with a Content-Length")
        length = self.headers.get("Content-Length")
        if length is None:
            return b""
        if not (length.isascii() and length.isdigit()):
            self.close_connection = True
            return sandbox.error(400, "invalid Content-Length")
        if int(length) > sandbox.max_body_bytes:
            self.close_connection = True
            return sandbox.error(413, f"body larger than {sandbox.max_body_bytes} bytes")
        return self.rfile.read(int(length))

    def _send(self, reply: Reply) -> None:
        data = reply.body.encode() if isinstance(reply.body, str) else json.dumps(reply.body).encode()
        self.send_response(reply.status)
        self.send_header("Content-Type", reply.content_type)
        for name, value in reply.headers:
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(data)))
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(data)
