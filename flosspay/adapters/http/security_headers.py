"""Security headers on every response: no sniffing, no framing, no caching of API answers.

Added by a ``before_send`` hook rather than middleware: Litestar runs it for every response it sends,
the ones its router makes for unknown paths and methods included.
"""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import Callable

from litestar.types import Scope

CONTENT_SECURITY_POLICY = "content-security-policy"
# Nothing an API answer could load or be framed by; the Swagger page sets its own (``swagger_policy``).
API_POLICY = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"

_ALWAYS = ((b"x-content-type-options", b"nosniff"), (b"x-frame-options", b"DENY"))
_NO_STORE = (b"cache-control", b"no-store")


def security_headers(static_prefix: str) -> Callable[[list[tuple[bytes, bytes]], Scope], None]:
    """Adds the headers to a response's list; those under ``static_prefix`` (immutable Swagger assets) may be cached.

    Called by the app's one ``before_send`` hook (``observe.response_headers_hook``).
    """
    static = static_prefix.encode()
    always = list(_ALWAYS)
    api = [*_ALWAYS, _NO_STORE, (CONTENT_SECURITY_POLICY.encode(), API_POLICY.encode())]

    def add_security_headers(headers: list[tuple[bytes, bytes]], scope: Scope) -> None:
        present = {name.lower() for name, _ in headers}
        path: str = scope.get("path", "")
        wanted = always if path.encode().startswith(static) else api
        headers.extend((name, value) for name, value in wanted if name not in present)

    return add_security_headers


def _hash_source(text: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(text.encode()).digest()).decode() + "'"


_INLINE = re.compile(r"<(script|style)(?:\s[^>]*)?>(.*?)</\1>", re.DOTALL)


def swagger_policy(page: str) -> str:
    """A CSP for the Swagger page: only this server's assets, plus exactly the page's own inline blocks.

    Inline ``<script>``/``<style>`` blocks are allowed by their SHA-256 (computed from the page as
    rendered), never with ``'unsafe-inline'``; nothing may come from another origin.
    """
    scripts = [_hash_source(body) for kind, body in _INLINE.findall(page) if kind == "script" and body.strip()]
    styles = [_hash_source(body) for kind, body in _INLINE.findall(page) if kind == "style" and body.strip()]
    return "; ".join(
        [
            "default-src 'none'",
            " ".join(["script-src 'self'", *scripts]),
            " ".join(["style-src 'self'", *styles]),
            "img-src 'self' data:",
            "font-src 'self'",
            "connect-src 'self'",
            "base-uri 'none'",
            "form-action 'none'",
            "frame-ancestors 'none'",
        ]
    )
