"""Resolve a webhook URL's host and refuse loopback, private, link-local and multicast addresses.

Checked at registration and again before every attempt (DNS rebinding): the sender then connects
to the very address that was checked, never resolving the name a second time.
"""

from __future__ import annotations

import socket
from collections.abc import Callable
from urllib.parse import urlsplit

from flosspay.domain.errors import FieldError, ValidationFailed
from flosspay.domain.webhooks import address_refused

Resolve = Callable[[str, int], list[str]]


class UnsafeAddress(Exception):
    """The URL's host does not resolve, or resolves to an address FlossPay must not contact."""


def system_resolve(host: str, port: int) -> list[str]:
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    seen: list[str] = []
    for info in infos:
        address = str(info[4][0])
        if address not in seen:
            seen.append(address)
    return seen


def target(url: str) -> tuple[str, int]:
    parts = urlsplit(url)
    host = parts.hostname or ""
    return host, parts.port or (443 if parts.scheme == "https" else 80)


def checked_address(url: str, allow_private: bool, resolve: Resolve = system_resolve) -> str:
    """The address to connect to for ``url``: every address the host resolves to must be allowed."""
    host, port = target(url)
    try:
        addresses = resolve(host, port)
    except (OSError, UnicodeError) as exc:
        raise UnsafeAddress(f"the host {host!r} does not resolve ({type(exc).__name__})") from None
    if not addresses:
        raise UnsafeAddress(f"the host {host!r} does not resolve")
    for address in addresses:
        if (why := address_refused(address, allow_private)) is not None:
            raise UnsafeAddress(f"the host {host!r} {why} ({address})")
    return addresses[0]


def url_vetter(allow_private: bool, resolve: Resolve = system_resolve) -> Callable[[str], None]:
    """For registration: a 400 naming ``url`` when its host is unsafe or unknown."""

    def vet(url: str) -> None:
        try:
            checked_address(url, allow_private, resolve)
        except UnsafeAddress as exc:
            raise ValidationFailed([FieldError("url", str(exc))]) from None

    return vet
