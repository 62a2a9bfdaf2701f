"""``flosspay sign``: the auth headers for a request, so curl users can sign by hand."""

from __future__ import annotations

import shlex
import time

from flosspay.adapters.http.signature import canonical_request, sign


def signed_headers(
    *,
    client_id: str,
    secret: str,
    method: str,
    path: str,
    body: bytes,
    idempotency_key: str = "",
    timestamp: int | None = None,
) -> dict[str, str]:
    ts = str(int(time.time()) if timestamp is None else timestamp)
    headers = {"X-Client-Id": client_id, "X-Timestamp": ts}
    if idempotency_key:
        headers["Idempotency-Key"] = idempotency_key
    headers["X-HMAC"] = sign(secret, canonical_request(method, path, ts, idempotency_key, body))
    return headers


def curl_command(base_url: str, method: str, path: str, headers: dict[str, str], body: bytes) -> str:
    parts = ["curl", "-sS", "-X", method.upper(), shlex.quote(base_url.rstrip("/") + path)]
    if body:
        parts += ["-H", shlex.quote("Content-Type: application/json")]
    for name, value in headers.items():
        parts += ["-H", shlex.quote(f"{name}: {value}")]
    if body:
        parts += ["--data-raw", shlex.quote(body.decode())]
    return " ".join(parts)
