"""uvicorn's httptools protocol with the bounds it lacks: header size, header and body read deadlines.

uvicorn (0.54) bounds keep-alive idling (``timeout_keep_alive``) and concurrency
(``limit_concurrency``) itself, but with the httptools parser it has no header size limit and no
deadline for a client to finish its headers or body: one client could hold a connection forever
(slowloris) or make the process buffer a 16 MiB header. This subclass adds exactly those three,
counting raw bytes *before* they reach the parser, so an oversized header is never buffered
(see ADR 0006 for why this and not another server).

It also sends a response's head together with its first body chunk (``_OneWriteResponse``): uvicorn
writes each ASGI message as it comes, two ``write`` syscalls and two TCP segments for every answer
(the second one was a tenth of the API process's py-spy samples; ADR 0021).
"""

from __future__ import annotations

import asyncio
import functools
import os
from typing import Any

import msgspec
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from flosspay.adapters.config import HttpSettings, http_settings

_END_OF_HEADERS = b"\r\n\r\n"


@functools.lru_cache(maxsize=1)
def _limits() -> HttpSettings:
    """The limits of this process, read from the environment once (each API worker process reads its own)."""
    return http_settings(dict(os.environ))


def _refusal(status: int, phrase: str, detail: str) -> bytes:
    body = msgspec.json.encode(
        {
            "type": f"urn:flosspay:problem:{phrase.lower().replace(' ', '-')}",
            "title": phrase,
            "status": status,
            "detail": detail,
        }
    )
    head = (
        f"HTTP/1.1 {status} {phrase}\r\ncontent-type: application/problem+json\r\n"
        f"content-length: {len(body)}\r\nconnection: close\r\nx-content-type-options: nosniff\r\n"
        "cache-control: no-store\r\n\r\n"
    )
    return head.encode() + body


class _OneWriteResponse:
    """The transport of one request/response cycle, holding the response head until the first body write.

    ASGI lets a server send the head with the first body chunk; uvicorn does not, so the head
    (the write made once the cycle has started its response) waits here and leaves with the next
    write. Anything written before the response starts (``100 Continue``), after the head, or as the
    head of an answer to HEAD (uvicorn writes no body for one) goes straight through; every other
    transport method is the real transport's.
    """

    __slots__ = ("_cycle", "_head", "_transport")

    def __init__(self, transport: asyncio.Transport, cycle: Any) -> None:
        self._transport = transport
        self._cycle = cycle
        self._head: bytes | None = None

    def write(self, data: bytes) -> None:
        head = self._head
        if head is not None:
            self._head = None
            self._cycle = None  # from here on: straight through
            self._transport.write(head + data)
        elif self._cycle is not None and self._cycle.response_started and self._cycle.scope["method"] != "HEAD":
            self._head = data  # an answer to HEAD has no body write to wait for: it goes at once
        else:
            self._transport.write(data)

    def close(self) -> None:
        """A head still held (the app stopped before its body) leaves before the connection closes."""
        head, self._head = self._head, None
        if head is not None:
            self._transport.write(head)
        self._transport.close()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)


class BoundedHttpToolsProtocol(HttpToolsProtocol):
    """Refuses headers over ``max_header_bytes`` (431) and closes connections that miss a read deadline."""

    limits: HttpSettings | None = None  # None: from the environment (``flosspay api`` worker processes)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        settings = self.limits or _limits()
        self._max_header_bytes = settings.max_header_bytes
        self._header_timeout = settings.header_timeout_seconds
        self._body_timeout = settings.body_timeout_seconds
        self._reading_headers = True
        self._header_bytes = 0
        self._tail = b""
        self._deadline: asyncio.TimerHandle | None = None

    # --- deadlines ---------------------------------------------------------------------------

    def _arm(self, seconds: float) -> None:
        self._disarm()
        self._deadline = self.loop.call_later(seconds, self._deadline_missed)

    def _disarm(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def _deadline_missed(self) -> None:
        self._deadline = None
        if self._reading_headers and self._header_bytes == 0 and not self._tail:
            self.transport.close()  # never said anything: nobody to answer
            return
        if self._reading_headers:
            self.transport.write(_refusal(408, "Request Timeout", "the request headers took too long"))
        self.transport.close()  # mid-body: the application sees a disconnect

    # --- protocol ----------------------------------------------------------------------------

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm(self._header_timeout)

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self._reading_headers:
            if self._deadline is None:  # the first bytes of a request on a kept-alive connection
                self._arm(self._header_timeout)
            window = self._tail + data
            end = window.find(_END_OF_HEADERS)
            counted = self._header_bytes + (end + len(_END_OF_HEADERS) - len(self._tail) if end >= 0 else len(data))
            if counted > self._max_header_bytes:
                self._disarm()
                detail = f"the request line and headers must fit in {self._max_header_bytes} bytes"
                self.transport.write(_refusal(431, "Request Header Fields Too Large", detail))
                self.transport.close()
                return
            self._header_bytes = counted
            self._tail = window[-(len(_END_OF_HEADERS) - 1) :]
        super().data_received(data)

    def on_headers_complete(self) -> None:
        self._reading_headers = False
        self._arm(self._body_timeout)
        before = self.cycle
        super().on_headers_complete()
        cycle = self.cycle
        if cycle is not None and cycle is not before:  # a new request (not an upgrade)
            cycle.transport = _OneWriteResponse(cycle.transport, cycle)  # type: ignore[assignment]

    def on_message_complete(self) -> None:
        self._disarm()
        super().on_message_complete()
        self._reading_headers = True  # the next request on this connection starts counting afresh
        self._header_bytes = 0
        self._tail = b""


def uvicorn_options(settings: HttpSettings, in_process: bool) -> dict[str, Any]:
    """The uvicorn options that bound the server (its own, plus the protocol above).

    ``in_process`` (``flosspay serve``): the protocol takes ``settings`` as given; otherwise each
    worker process uvicorn spawns reads the same settings from the environment.
    """
    protocol: type[BoundedHttpToolsProtocol] = BoundedHttpToolsProtocol
    if in_process:
        protocol = type("ServeHttpProtocol", (BoundedHttpToolsProtocol,), {"limits": settings})
    return {
        "http": protocol,
        "loop": "uvloop",
        "timeout_keep_alive": settings.keep_alive_seconds,
        "limit_concurrency": settings.max_connections,
        "h11_max_incomplete_event_size": settings.max_header_bytes,
    }
