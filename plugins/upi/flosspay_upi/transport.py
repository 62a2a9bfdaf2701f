"""HTTP to the PSP: one shared, lazily created httpx client, and transport failures as outcomes.

A failure before the request left (refused connection, connect or pool timeout) is TRANSIENT:
nothing happened. A failure after it may have arrived (read timeout, dropped connection) is
UNCERTAIN. Nothing here raises, and no message carries a header value (the API key travels in
one), only fixed texts and exception class names.
"""

from __future__ import annotations

import re
import threading
from typing import Any

import httpx
import msgspec

from flosspay.railapi import Outcome

_CODE_PATTERN = re.compile(r"^[A-Z0-9]{2,4}$")
_MAX_CONNECTIONS = 32

# Raised before any byte of the request could reach the PSP.
_NOT_SENT: tuple[type[Exception], ...] = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)


class PspAnswer(msgspec.Struct, frozen=True):
    """A parsed HTTP answer from the PSP: its status and, when present, its response code."""

    http_status: int
    code: str | None = None
    psp_reference: str | None = None
    body: dict[str, Any] = msgspec.field(default_factory=dict)


class TransportFailure(msgspec.Struct, frozen=True):
    """The PSP gave no usable answer; ``outcome`` is TRANSIENT or UNCERTAIN."""

    outcome: Outcome
    code: str
    reason: str


class PspTransport:
    """Sends JSON to the PSP. Safe to share between threads (httpx's pool is)."""

    def __init__(self, base_url: str, timeout_seconds: float, api_key: str | None) -> None:
        self._base_url = base_url
        self._timeout = httpx.Timeout(
            connect=timeout_seconds, read=timeout_seconds, write=timeout_seconds, pool=timeout_seconds
        )
        self._api_key = api_key
        self._client: httpx.Client | None = None
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"PspTransport(base_url={self._base_url!r}, timeout={self._timeout.read}s)"

    def _http(self) -> httpx.Client:
        """The shared client, created on first use so start-up never touches the network."""
        client = self._client
        if client is None:
            with self._lock:
                if self._client is None:
                    headers = {"Accept": "application/json", "User-Agent": "flosspay-upi"}
                    if self._api_key:
                        headers["Authorization"] = f"Bearer {self._api_key}"
                    self._client = httpx.Client(
                        base_url=self._base_url,
                        timeout=self._timeout,
                        headers=headers,
                        limits=httpx.Limits(max_connections=_MAX_CONNECTIONS),
                        follow_redirects=False,
                    )
                client = self._client
        return client

    def request(self, method: str, path: str, payload: dict[str, Any] | None = None) -> PspAnswer | TransportFailure:
        try:
            response = self._http().request(method, path, json=payload)
        except _NOT_SENT as exc:
            return TransportFailure(Outcome.TRANSIENT, "PSP_UNREACHABLE", f"PSP not reached ({type(exc).__name__})")
        except httpx.TimeoutException as exc:
            return TransportFailure(Outcome.UNCERTAIN, "PSP_TIMEOUT", f"no answer from the PSP ({type(exc).__name__})")
        except Exception as exc:  # dropped connections, protocol errors, anything else: the PSP may have acted
            return TransportFailure(Outcome.UNCERTAIN, "PSP_ERROR", f"PSP call failed ({type(exc).__name__})")
        return _parse(response)

    def close(self) -> None:
        with self._lock:
            if self._client is not None:
                self._client.close()
                self._client = None


def _parse(response: httpx.Response) -> PspAnswer | TransportFailure:
    status = response.status_code
    if status >= 500:
        return TransportFailure(Outcome.TRANSIENT, f"HTTP_{status}", f"PSP unavailable (HTTP {status})")
    try:
        body = msgspec.json.decode(response.content) if response.content else {}
    except msgspec.DecodeError:
        body = None
    if not isinstance(body, dict):
        if status < 300:
            return TransportFailure(Outcome.UNCERTAIN, "BAD_RESPONSE", f"PSP answered HTTP {status} without JSON")
        body = {}
    code = body.get("code")
    if code is not None and (not isinstance(code, str) or not _CODE_PATTERN.fullmatch(code)):
        return TransportFailure(Outcome.UNCERTAIN, "BAD_RESPONSE", "PSP answered a malformed response code")
    if 200 <= status < 300 and code is None:
        return TransportFailure(Outcome.UNCERTAIN, "BAD_RESPONSE", "PSP answered without a response code")
    psp_reference = body.get("pspReference")
    if not isinstance(psp_reference, str) or len(psp_reference) > 64:
        psp_reference = None
    return PspAnswer(http_status=status, code=code, psp_reference=psp_reference, body=body)
