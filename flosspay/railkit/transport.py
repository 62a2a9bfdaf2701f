"""JSON over HTTP to a PSP, where every transport failure comes back as an outcome instead of an exception.

A failure before the request could leave (connection refused, connect or pool timeout, a TLS
handshake that failed, a URL that names no HTTP server) is TRANSIENT: nothing happened, so FlossPay
may simply try again. A failure after it may have arrived (read timeout, dropped connection, an
answer cut short) is UNCERTAIN: only a status query can tell. Messages carry fixed texts and
exception class names only: an exception's text can hold a URL, a header (the API key travels in
one) or a body (a card number may travel in one).

urllib3 rather than httpx (ADR 0018): half the client CPU per call, on the worker's hottest path.
"""

from __future__ import annotations

import math
import os
import ssl
import threading
import time
import urllib.request
from collections.abc import Mapping
from typing import Any

import certifi
import msgspec
import urllib3
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.exceptions import (
    ClosedPoolError,
    ConnectTimeoutError,
    EmptyPoolError,
    LocationValueError,
    MaxRetryError,
)
from urllib3.exceptions import TimeoutError as HttpTimeoutError
from urllib3.util import parse_url

from flosspay.domain.rail import Outcome, RailResult, RefundResult

DEFAULT_MAX_CONNECTIONS = 32
DEFAULT_MAX_ANSWER_BYTES = 1024 * 1024
_READ_SIZE = 64 * 1024


class NotSentError(Exception):
    """Opening the connection failed (refused, timed out, TLS handshake): no byte of the request left."""


NOT_SENT: tuple[type[Exception], ...] = (
    NotSentError,
    ConnectTimeoutError,  # NewConnectionError and NameResolutionError are kinds of it
    EmptyPoolError,
    ClosedPoolError,
    LocationValueError,  # no host, or a scheme that is not http(s)
)
"""Raised before any byte of the request could reach the PSP."""


class PspAnswer(msgspec.Struct, frozen=True):
    """The PSP answered: its HTTP status and its JSON object body (empty when it sent none, or no object)."""

    http_status: int
    body: dict[str, Any] = msgspec.field(default_factory=dict)

    def text(self, key: str) -> str | None:
        """The body's ``key`` when it is a string, else None: PSP fields are read without trusting their type."""
        value = self.body.get(key)
        return value if isinstance(value, str) else None


class NoAnswer(msgspec.Struct, frozen=True):
    """No answer came; ``outcome`` is TRANSIENT (nothing sent) or UNCERTAIN (maybe sent)."""

    outcome: Outcome
    code: str
    reason: str

    def result(self) -> RailResult:
        return RailResult(self.outcome, self.code, self.reason)

    def refund_result(self) -> RefundResult:
        return RefundResult(self.outcome, self.code, self.reason)


class _AnswerTooSlow(Exception):
    """The answer's body was still arriving when the call's time ran out."""


class _AnswerTooLarge(Exception):
    """The answer's body passed the size limit."""


class _Connection(HTTPConnection):
    """Tells a failure to connect from a failure after sending by raising ``NotSentError`` for the former.

    urllib3 reports a TLS handshake that timed out as a ``ReadTimeoutError`` and one that failed as
    the same ``SSLError`` as a broken read: only the phase says whether the request left.
    """

    def connect(self) -> None:
        try:
            super().connect()
        except Exception as exc:
            raise NotSentError(type(exc).__name__) from exc


class _TlsConnection(HTTPSConnection):
    """``_Connection`` for https: the handshake is part of connecting."""

    def connect(self) -> None:
        try:
            super().connect()
        except Exception as exc:
            raise NotSentError(type(exc).__name__) from exc


class _Pool(urllib3.HTTPConnectionPool):
    ConnectionCls = _Connection


class _TlsPool(urllib3.HTTPSConnectionPool):
    ConnectionCls = _TlsConnection


class PspTransport:
    """Sends JSON to one PSP and returns a ``PspAnswer`` or a ``NoAnswer``; it never raises.

    The urllib3 connection pool (keep-alive, at most ``max_connections``) is created on first use
    (building a rail must not touch the network), shared by every thread, and created afresh in a
    forked child. Each phase of a call (waiting for a pooled connection, connecting, sending, each
    read) is bounded by ``timeout_seconds``, and the answer's body must be complete within
    ``timeout_seconds`` of the call's start, so a PSP that trickles bytes cannot hold a worker
    either. Nothing is retried and no redirect followed: a POST sent twice could move money twice.
    ``api_key``, when given, goes out as ``Authorization: Bearer`` and never shows in ``repr`` or a
    message.
    """

    def __init__(
        self,
        base_url: str,
        *,
        timeout_seconds: float,
        api_key: str | None = None,
        user_agent: str = "flosspay",
        max_connections: int = DEFAULT_MAX_CONNECTIONS,
        max_answer_bytes: int = DEFAULT_MAX_ANSWER_BYTES,
    ) -> None:
        if not (math.isfinite(timeout_seconds) and timeout_seconds > 0):
            raise ValueError("timeout_seconds must be a positive number of seconds")
        self._base_url = base_url.rstrip("/")
        self._timeout_seconds = timeout_seconds
        self._api_key = api_key
        self._user_agent = user_agent
        self._max_connections = max_connections
        self._max_answer_bytes = max_answer_bytes
        self._pool: urllib3.HTTPConnectionPool | None = None
        self._prefix = ""
        self._pid = 0
        self._lock = threading.Lock()
        self._timeout = urllib3.Timeout(connect=timeout_seconds, read=timeout_seconds)
        self._get_headers = self._headers()
        self._send_headers = self._get_headers | {"Content-Type": "application/json"}

    def __repr__(self) -> str:
        return f"PspTransport(base_url={self._base_url!r}, timeout={self._timeout_seconds}s)"

    @property
    def base_url(self) -> str:
        return self._base_url

    @property
    def timeout_seconds(self) -> float:
        return self._timeout_seconds

    def request(self, method: str, path: str, payload: Mapping[str, Any] | None = None) -> PspAnswer | NoAnswer:
        """``method path`` with ``payload`` as the JSON body; the answer, or what not getting one means."""
        deadline = time.monotonic() + self._timeout_seconds
        try:
            pool = self._http()
            if payload is None:
                body, headers = None, self._get_headers
            else:
                body = msgspec.json.encode(payload if isinstance(payload, dict) else dict(payload))
                headers = self._send_headers
            response = pool.urlopen(
                method,
                self._prefix + path,
                body=body,
                headers=headers,
                retries=False,
                redirect=False,
                assert_same_host=False,
                timeout=self._timeout,
                pool_timeout=self._timeout_seconds,  # type: ignore[arg-type]  # typed int, used as a float
                preload_content=False,
                release_conn=False,
            )
            content = self._read(response, deadline)
        except Exception as exc:
            return self._no_answer(exc)
        return PspAnswer(response.status, _json_object(content))

    def close(self) -> None:
        """Release the pooled connections; the next call opens new ones."""
        with self._lock:
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.close()

    def _http(self) -> urllib3.HTTPConnectionPool:
        with self._lock:
            if self._pool is None or self._pid != os.getpid():
                # After a fork the parent's pool is dropped, not closed: its sockets are the parent's.
                self._pool = self._new_pool()
                self._pid = os.getpid()
            return self._pool

    def _new_pool(self) -> urllib3.HTTPConnectionPool:
        url = parse_url(self._base_url)
        if url.scheme not in ("http", "https") or not url.host:
            raise LocationValueError("not an http(s) URL")
        self._prefix = (url.path or "").rstrip("/")
        options: dict[str, Any] = {
            "timeout": self._timeout,
            "maxsize": self._max_connections,
            "block": True,  # max_connections is a bound: the next caller waits (pool_timeout), then gives up
            "retries": False,
        }
        if url.scheme == "https":
            options["ssl_context"] = _tls_context()
        proxy = _proxy_for(url.scheme, url.host)
        if proxy is not None:
            return self._proxied_pool(proxy, url.scheme, options)
        if url.scheme == "http":
            return _Pool(url.host, port=url.port, **options)
        return _TlsPool(url.host, port=url.port, **options)

    def _proxied_pool(self, proxy: str, scheme: str, options: dict[str, Any]) -> urllib3.HTTPConnectionPool:
        """A pool through the egress proxy the environment names (``HTTPS_PROXY``/``HTTP_PROXY``, ``NO_PROXY``).

        https goes through a CONNECT tunnel (the handshake with the PSP is still part of connecting);
        plain http is sent to the proxy in absolute form, so calls then name the whole URL.
        """
        manager = urllib3.ProxyManager(proxy, num_pools=1, **options)
        manager.pool_classes_by_scheme = {"http": _Pool, "https": _TlsPool}  # NotSentError while connecting
        if scheme == "http":
            self._prefix = self._base_url
        return manager.connection_from_url(self._base_url)

    def _headers(self) -> dict[str, str]:
        headers = {"Accept": "application/json", "User-Agent": self._user_agent}
        if self._api_key:
            headers["Authorization"] = f"Bearer {self._api_key}"
        return headers

    def _read(self, response: urllib3.BaseHTTPResponse, deadline: float) -> bytes:
        """The whole body, a read at a time (``read1``: what has arrived), within the limit and the deadline."""
        chunks: list[bytes] = []
        received = 0
        try:
            while chunk := response.read1(_READ_SIZE):
                received += len(chunk)
                if received > self._max_answer_bytes:
                    raise _AnswerTooLarge
                if time.monotonic() > deadline:
                    raise _AnswerTooSlow
                chunks.append(chunk)
        except BaseException:
            response.close()  # a half-read answer leaves its connection unusable: never pool it again
            raise
        finally:
            response.release_conn()
        return b"".join(chunks)

    def _no_answer(self, exc: Exception) -> NoAnswer:
        if isinstance(exc, MaxRetryError) and exc.reason is not None:  # only if retries ever get enabled
            exc = exc.reason
        name = str(exc) if isinstance(exc, NotSentError) else type(exc).__name__
        if isinstance(exc, NOT_SENT):
            return NoAnswer(Outcome.TRANSIENT, "PSP_UNREACHABLE", f"PSP not reached ({name})")
        if isinstance(exc, HttpTimeoutError | _AnswerTooSlow):
            return NoAnswer(Outcome.UNCERTAIN, "PSP_TIMEOUT", f"no answer from the PSP in time ({name})")
        if isinstance(exc, _AnswerTooLarge):
            return NoAnswer(Outcome.UNCERTAIN, "PSP_ERROR", f"PSP answer larger than {self._max_answer_bytes} bytes")
        # dropped connection, protocol error, anything else: the PSP may have acted
        return NoAnswer(Outcome.UNCERTAIN, "PSP_ERROR", f"PSP call failed ({name})")


def _proxy_for(scheme: str, host: str) -> str | None:
    """The proxy URL the environment gives for ``scheme`` (as httpx and curl read it), unless ``host`` bypasses it."""
    proxy = urllib.request.getproxies().get(scheme)
    if not proxy or urllib.request.proxy_bypass(host):
        return None
    return proxy


def _tls_context() -> ssl.SSLContext:
    """The trust roots httpx used: ``SSL_CERT_FILE`` / ``SSL_CERT_DIR`` when set, else certifi's bundle."""
    if cafile := os.environ.get("SSL_CERT_FILE"):
        return ssl.create_default_context(cafile=cafile)
    if capath := os.environ.get("SSL_CERT_DIR"):
        return ssl.create_default_context(capath=capath)
    return ssl.create_default_context(cafile=certifi.where())


def _json_object(content: bytes) -> dict[str, Any]:
    if not content:
        return {}
    try:
        body = msgspec.json.decode(content)
    except msgspec.DecodeError:
        return {}
    return body if isinstance(body, dict) else {}
