"""HTTP to the wallet provider: one lazily created httpx client per process, and transport failures as outcomes.

A failure before the request left (refused connection, connect or pool timeout) is TRANSIENT:
nothing happened. A failure after it may have arrived (read timeout, dropped connection) is
UNCERTAIN. Nothing here raises, and no message carries a header or body value: only fixed texts
and exception class names, so nothing of a request can leak through them.
"""

from __future__ import annotations

import os
import threading
from typing import Any

import httpx
import msgspec

from flosspay.railapi import Outcome

_NOT_SENT: tuple[type[Exception], ...] = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)
_MAX_CONNECTIONS = 32


class PspAnswer(msgspec.Struct, frozen=True):
    """An HTTP answer: its status and its JSON object body (empty when there was none)."""

    http_status: int
    body: dict[str, Any]


class NoAnswer(msgspec.Struct, frozen=True):
    """No usable answer; ``outcome`` is TRANSIENT (nothing sent) or UNCERTAIN (maybe sent)."""

    outcome: Outcome
    code: str
    reason: str


class PspClient:
    """Sends JSON to the PSP; safe to share between threads, and re-created after a fork."""

    def __init__(self, base_url: str, api_key: str, timeout_seconds: float) -> None:
        self._base_url = base_url
        self._api_key = api_key
        self._timeout = httpx.Timeout(timeout_seconds)
        self._client: httpx.Client | None = None
        self._pid = 0
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"PspClient(base_url={self._base_url!r}, timeout={self._timeout.read}s)"

    def _http(self) -> httpx.Client:
        with self._lock:
            if self._client is None or self._pid != os.getpid():
                self._client = httpx.Client(
                    base_url=self._base_url,
                    timeout=self._timeout,
                    headers={"Authorization": f"Bearer {self._api_key}", "User-Agent": "flosspay-wallet"},
                    limits=httpx.Limits(max_connections=_MAX_CONNECTIONS),
                    follow_redirects=False,
                )
                self._pid = os.getpid()
            return self._client

    def call(self, method: str, path: str, payload: dict[str, Any] | None = None) -> PspAnswer | NoAnswer:
        try:
            response = self._http().request(method, path, json=payload)
        except _NOT_SENT as exc:
            return NoAnswer(Outcome.TRANSIENT, "PSP_UNREACHABLE", f"PSP not reached ({type(exc).__name__})")
        except httpx.TimeoutException as exc:
            return NoAnswer(Outcome.UNCERTAIN, "PSP_TIMEOUT", f"no answer from the PSP ({type(exc).__name__})")
        except Exception as exc:  # dropped connection, protocol error: the PSP may have acted
            return NoAnswer(Outcome.UNCERTAIN, "PSP_ERROR", f"PSP call failed ({type(exc).__name__})")
        try:
            body = msgspec.json.decode(response.content) if response.content else {}
        except msgspec.DecodeError:
            body = {}
        return PspAnswer(response.status_code, body if isinstance(body, dict) else {})

    def close(self) -> None:
        with self._lock:
            if self._client is not None:
                self._client.close()
                self._client = None
