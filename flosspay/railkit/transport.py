"""JSON over HTTP to a PSP, where every transport failure comes back as an outcome instead of an exception.

A failure before the request could leave (connection refused, connect or pool timeout) is
TRANSIENT: nothing happened, so FlossPay may simply try again. A failure after it may have arrived
(read timeout, dropped connection, an answer cut short) is UNCERTAIN: only a status query can tell.
Messages carry fixed texts and exception class names only: an exception's text can hold a URL, a
header (the API key travels in one) or a body (a card number may travel in one).
"""

from __future__ import annotations

import math
import os
import threading
import time
from collections.abc import Iterator, Mapping
from typing import Any

import httpx
import msgspec

from flosspay.domain.rail import Outcome, RailResult, RefundResult

DEFAULT_MAX_CONNECTIONS = 32
DEFAULT_MAX_ANSWER_BYTES = 1024 * 1024

NOT_SENT: tuple[type[Exception], ...] = (
    httpx.ConnectError,
    httpx.ConnectTimeout,
    httpx.PoolTimeout,
    httpx.UnsupportedProtocol,
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


class PspTransport:
    """Sends JSON to one PSP and returns a ``PspAnswer`` or a ``NoAnswer``; it never raises.

    The httpx client is created on first use (building a rail must not touch the network), shared
    by every thread, and created afresh in a forked child. Each phase of a call (waiting for a pooled
    connection, connecting, sending, each read) is bounded by ``timeout_seconds``, and the answer's
    body must be complete within ``timeout_seconds`` of the call's start, so a PSP that trickles
    bytes cannot hold a worker either. ``api_key``, when given, goes out as ``Authorization: Bearer``
    and never shows in ``repr`` or a message.
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
        self._client: httpx.Client | None = None
        self._pid = 0
        self._lock = threading.Lock()

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
            with self._http().stream(method, path, json=payload) as response:
                content = b"".join(self._chunks(response, deadline))
        except NOT_SENT as exc:
            return NoAnswer(Outcome.TRANSIENT, "PSP_UNREACHABLE", f"PSP not reached ({type(exc).__name__})")
        except (httpx.TimeoutException, _AnswerTooSlow) as exc:
            return NoAnswer(Outcome.UNCERTAIN, "PSP_TIMEOUT", f"no answer from the PSP in time ({type(exc).__name__})")
        except _AnswerTooLarge:
            return NoAnswer(Outcome.UNCERTAIN, "PSP_ERROR", f"PSP answer larger than {self._max_answer_bytes} bytes")
        except Exception as exc:  # dropped connection, protocol error, anything else: the PSP may have acted
            return NoAnswer(Outcome.UNCERTAIN, "PSP_ERROR", f"PSP call failed ({type(exc).__name__})")
        return PspAnswer(response.status_code, _json_object(content))

    def close(self) -> None:
        """Release the pooled connections; the next call opens new ones."""
        with self._lock:
            client, self._client = self._client, None
        if client is not None:
            client.close()

    def _http(self) -> httpx.Client:
        with self._lock:
            if self._client is None or self._pid != os.getpid():
                # After a fork the parent's client is dropped, not closed: its sockets are the parent's.
                self._client = httpx.Client(
                    base_url=self._base_url,
                    timeout=httpx.Timeout(self._timeout_seconds),
                    headers=self._headers(),
                    limits=httpx.Limits(max_connections=self._max_connections),
                    follow_redirects=False,
                )
                self._pid = os.getpid()
            return self._client

    def _headers(self) -> dict[str, str]:
        headers = {"Accept": "application/json", "User-Agent": self._user_agent}
        if self._api_key:
            headers["Authorization"] = f"Bearer {self._api_key}"
        return headers

    def _chunks(self, response: httpx.Response, deadline: float) -> Iterator[bytes]:
        received = 0
        for chunk in response.iter_bytes():
            received += len(chunk)
            if received > self._max_answer_bytes:
                raise _AnswerTooLarge
            if time.monotonic() > deadline:
                raise _AnswerTooSlow
            yield chunk


def _json_object(content: bytes) -> dict[str, Any]:
    if not content:
        return {}
    try:
        body = msgspec.json.decode(content)
    except msgspec.DecodeError:
        return {}
    return body if isinstance(body, dict) else {}
