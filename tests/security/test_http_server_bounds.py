"""The HTTP server is bounded: header size, header and body deadlines, keep-alive, connections.

A real uvicorn server on loopback, configured exactly as ``flosspay serve`` configures it (short
deadlines, so each test takes a few seconds at most).
"""

from __future__ import annotations

import resource
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager, suppress
from typing import Any

import httpx
import pytest
import uvicorn

from flosspay.adapters.config import HttpSettings
from flosspay.adapters.http.bounded_server import uvicorn_options
from tests.fakes import FakeClock
from tests.integration.http.http_api_support import World, signed_headers

pytestmark = [pytest.mark.security, pytest.mark.integration]

LIMITS = HttpSettings(
    max_header_bytes=16 * 1024,
    header_timeout_seconds=1.0,
    body_timeout_seconds=1.0,
    keep_alive_seconds=1,
    max_connections=40,
)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextmanager
def _serving(options: dict[str, Any]) -> Iterator[tuple[str, int]]:
    """The test API on uvicorn with ``options``, in a thread, on a free port; stopped on exit."""
    port = _free_port()
    config = uvicorn.Config(
        World().app(), host="127.0.0.1", port=port, log_level="warning", access_log=False, **options
    )
    instance = uvicorn.Server(config)
    thread = threading.Thread(target=instance.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not instance.started:
        assert time.monotonic() < deadline, "server did not start"
        time.sleep(0.02)
    try:
        yield "127.0.0.1", port
    finally:
        instance.should_exit = True
        thread.join(10)


@pytest.fixture
def server() -> Iterator[tuple[str, int]]:
    with _serving(uvicorn_options(LIMITS, in_process=True)) as address:
        yield address


def _healthy_fast(host: str, port: int) -> float:
    """Seconds a fresh ``GET /health`` takes; it must succeed."""
    started = time.monotonic()
    response = httpx.get(f"http://{host}:{port}/health", timeout=5)
    assert response.status_code == 200
    return time.monotonic() - started


def _closed_by_server(sock: socket.socket, within: float) -> bytes:
    """What the server sent before closing ``sock`` (fails if it is still open after ``within`` s)."""
    sock.settimeout(within)
    received = b""
    try:
        while chunk := sock.recv(65536):
            received += chunk
    except ConnectionResetError:
        pass
    except TimeoutError:
        pytest.fail(f"the server kept the connection open for more than {within} s")
    return received


def _rss_kib() -> int:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def test_an_oversized_header_is_refused_with_431(server: tuple[str, int]) -> None:
    with socket.create_connection(server) as sock:
        sock.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * (17 * 1024) + b"\r\n\r\n")
        answer = _closed_by_server(sock, 3)
    assert answer.startswith(b"HTTP/1.1 431 ")
    assert b"application/problem+json" in answer
    # a header just under the limit still works
    response = httpx.get(f"http://{server[0]}:{server[1]}/health", headers={"X-Big": "a" * (15 * 1024)}, timeout=5)
    assert response.status_code == 200


def test_unfinished_huge_headers_keep_memory_flat(server: tuple[str, int]) -> None:
    """20 clients each start a 4 MiB header and never finish it: the server buffers none of it."""
    before = _rss_kib()
    chunk = b"a" * 65536
    with ExitStack() as stack:
        socks = [stack.enter_context(socket.create_connection(server)) for _ in range(20)]
        for sock in socks:
            sock.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\nX-Big: ")
            try:
                for _ in range(64):  # 4 MiB, unless the server hangs up first
                    sock.sendall(chunk)
            except (BrokenPipeError, ConnectionResetError):
                pass
        grown_mib = (_rss_kib() - before) / 1024
        assert grown_mib < 16, f"server memory grew {grown_mib:.0f} MiB"
        assert _healthy_fast(*server) < 1.0


def test_slowloris_connections_are_closed_at_the_header_deadline(server: tuple[str, int]) -> None:
    with ExitStack() as stack:
        socks = [stack.enter_context(socket.create_connection(server)) for _ in range(30)]
        for sock in socks:
            sock.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n")
        started = time.monotonic()
        for _ in range(3):  # keep trickling bytes: a deadline, not an idle timer
            for sock in socks:
                with suppress(BrokenPipeError, ConnectionResetError):
                    sock.sendall(b"X-A: b\r\n")
            time.sleep(0.3)
        assert _healthy_fast(*server) < 1.0  # meanwhile, normal requests are served
        for sock in socks:
            answer = _closed_by_server(sock, 3)
            assert answer == b"" or answer.startswith(b"HTTP/1.1 408 ")
        assert time.monotonic() - started < 4


def test_a_silent_connection_and_a_stalled_body_are_dropped(server: tuple[str, int]) -> None:
    with socket.create_connection(server) as silent, socket.create_connection(server) as stalled:
        stalled.sendall(
            b"POST /api/v1/pay HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{"
        )
        assert _closed_by_server(silent, 3) == b""
        assert b" 500 " not in _closed_by_server(stalled, 3)


def test_an_idle_kept_alive_connection_is_closed(server: tuple[str, int]) -> None:
    with socket.create_connection(server) as sock:
        sock.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
        answer = _closed_by_server(sock, 4)
    assert answer.startswith(b"HTTP/1.1 200 ")


def test_connections_beyond_the_cap_are_refused_until_the_hoarders_time_out(server: tuple[str, int]) -> None:
    with ExitStack() as stack:
        for _ in range(LIMITS.max_connections):
            stack.enter_context(socket.create_connection(server)).sendall(b"GET /he")
        time.sleep(0.2)
        response = httpx.get(f"http://{server[0]}:{server[1]}/health", timeout=5)
        assert response.status_code == 503
        time.sleep(LIMITS.header_timeout_seconds + 0.5)
        assert _healthy_fast(*server) < 1.0


class _WriteSpy:
    """The real transport, with every ``write`` it is given recorded (what the server sent, call by call)."""

    def __init__(self, transport: Any, writes: list[bytes]) -> None:
        self._transport = transport
        self._writes = writes

    def write(self, data: bytes) -> None:
        self._writes.append(bytes(data))
        self._transport.write(data)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)


@pytest.fixture
def recorded() -> Iterator[tuple[tuple[str, int], list[bytes]]]:
    """A server like ``server``'s whose connections record their writes."""
    writes: list[bytes] = []
    options = uvicorn_options(LIMITS, in_process=True)
    base = options["http"]

    class Recording(base):  # type: ignore[misc,valid-type]
        def connection_made(self, transport: Any) -> None:
            super().connection_made(_WriteSpy(transport, writes))

    with _serving({**options, "http": Recording}) as address:
        yield address, writes


def _read_response(sock: socket.socket) -> bytes:
    """One ``Content-Length`` response, however many segments it came in."""
    received = b""
    while b"\r\n\r\n" not in received:
        received += sock.recv(65536)
    head, _, body = received.partition(b"\r\n\r\n")
    length = next(
        int(line.split(b":", 1)[1]) for line in head.split(b"\r\n") if line.lower().startswith(b"content-length:")
    )
    while len(body) < length:
        body += sock.recv(65536)
    return head + b"\r\n\r\n" + body


def test_a_response_leaves_in_one_write_head_and_body_together(
    recorded: tuple[tuple[str, int], list[bytes]],
) -> None:
    """Head and body are one write (ADR 0021), on every request of a kept-alive connection."""
    address, writes = recorded
    answers = []
    with socket.create_connection(address, timeout=5) as sock:
        for _ in range(3):
            sock.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
            answers.append(_read_response(sock))
            assert answers[-1].startswith(b"HTTP/1.1 200 ")
            assert b"x-content-type-options: nosniff" in answers[-1]
            assert writes == answers


def test_expect_100_continue_still_gets_its_interim_answer_first(
    recorded: tuple[tuple[str, int], list[bytes]],
) -> None:
    """The interim ``100 Continue`` goes out at once, not held back as if it were the response's head."""
    address, writes = recorded
    body = b'{"senderUpi":"alice@okbank","receiverUpi":"shop@okaxis","amount":"28.00"}'
    now = int(FakeClock().now().timestamp())
    signed = signed_headers("POST", "/api/v1/pay", body, timestamp=now, key="continue-1")
    head = "".join(f"{name}: {value}\r\n" for name, value in signed.items())
    with socket.create_connection(address, timeout=5) as sock:
        sock.sendall(
            b"POST /api/v1/pay HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            + head.encode()
            + f"Content-Length: {len(body)}\r\nExpect: 100-continue\r\n\r\n".encode()
        )
        interim = sock.recv(65536)
        assert interim == b"HTTP/1.1 100 Continue\r\n\r\n"
        sock.sendall(body)
        answer = _read_response(sock)
    assert answer.startswith(b"HTTP/1.1 200 "), answer
    assert writes == [interim, answer]


def test_a_head_request_and_an_empty_body_still_get_their_answer(server: tuple[str, int]) -> None:
    """A response with no body write (HEAD: uvicorn writes none; an empty body) must not keep its head back."""
    with socket.create_connection(server, timeout=5) as sock:
        sock.sendall(b"HEAD /health HTTP/1.1\r\nHost: x\r\n\r\n")
        head = sock.recv(65536)
        assert head.startswith(b"HTTP/1.1 ") and head.endswith(b"\r\n\r\n")
        sock.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")  # the connection still serves the next one
        assert _read_response(sock).startswith(b"HTTP/1.1 200 ")
