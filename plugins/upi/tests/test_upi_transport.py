"""Transport failures become outcomes, never exceptions: TRANSIENT when nothing was sent, UNCERTAIN when
it may have been; timeouts are hard; the API key never shows."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import msgspec
import pytest
from flosspay_upi.rail import UpiRail
from flosspay_upi.sandbox import UpiSandbox
from upi_helpers import SLOW_SECONDS, debits_of, upi_request

from flosspay.railapi import Money, Outcome

pytestmark = pytest.mark.integration

SECRET = "sk_test_never_print_me_7f3a"

Reply = Callable[[BaseHTTPRequestHandler], None]


@pytest.fixture
def stub_psp() -> Iterator[Callable[[Reply], str]]:
    """A PSP that answers every request with ``reply``; returns its base URL."""
    servers: list[ThreadingHTTPServer] = []

    def start(reply: Reply) -> str:
        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                reply(self)

            def do_POST(self) -> None:
                self.rfile.read(int(self.headers.get("Content-Length", "0")))
                reply(self)

            def log_message(self, *args: object) -> None:
                pass

        server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        servers.append(server)
        return f"http://127.0.0.1:{server.server_address[1]}"

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


def answer(status: int, body: bytes) -> Reply:
    def reply(handler: BaseHTTPRequestHandler) -> None:
        handler.send_response(status)
        handler.send_header("Content-Length", str(len(body)))
        handler.end_headers()
        handler.wfile.write(body)

    return reply


def hang_up(handler: BaseHTTPRequestHandler) -> None:
    """Read the request, then drop the connection without a word (the PSP may have acted)."""
    handler.close_connection = True
    handler.connection.shutdown(socket.SHUT_RDWR)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def every_call(rail: UpiRail) -> list[tuple[Outcome, str | None, str | None]]:
    request = upi_request("alice@okhdfc")
    results = [rail.execute(request), rail.status(request)]
    refund = rail.refund(request, Money(100, "INR"), "refund-1")
    return [(r.outcome, r.code, r.reason) for r in results] + [(refund.outcome, refund.code, refund.reason)]


def test_a_refused_connection_is_transient_for_every_call() -> None:
    rail = UpiRail({"psp_url": f"http://127.0.0.1:{free_port()}", "timeout": "2"})
    started = time.monotonic()
    outcomes = every_call(rail)
    assert [(o, c) for o, c, _ in outcomes] == [(Outcome.TRANSIENT, "PSP_UNREACHABLE")] * 3
    assert time.monotonic() - started < 2


def test_a_read_timeout_after_sending_is_uncertain_and_the_status_query_finds_the_debit(psp_url: str) -> None:
    impatient = UpiRail({"psp_url": psp_url, "timeout": "0.3"})
    request = upi_request("slow@okhdfc")
    started = time.monotonic()
    result = impatient.execute(request)
    elapsed = time.monotonic() - started
    assert (result.outcome, result.code) == (Outcome.UNCERTAIN, "PSP_TIMEOUT")
    assert 0.25 <= elapsed < 1.0
    assert len(debits_of(psp_url, request.reference)) == 1  # the PSP had acted
    assert impatient.status(request).outcome is Outcome.COMPLETED
    assert impatient.execute(request).outcome is Outcome.COMPLETED  # the repeat answers at once, no new debit
    assert len(debits_of(psp_url, request.reference)) == 1
    assert SLOW_SECONDS > 0.3


@pytest.mark.parametrize("status", [500, 502, 503, 504])
def test_server_errors_are_transient(stub_psp: Callable[[Reply], str], status: int) -> None:
    rail = UpiRail({"psp_url": stub_psp(answer(status, b'{"error": "down"}')), "timeout": "2"})
    assert [(o, c) for o, c, _ in every_call(rail)] == [(Outcome.TRANSIENT, f"HTTP_{status}")] * 3


@pytest.mark.parametrize(
    "body",
    [b"<html>ok</html>", b"[]", b'{"status": "SUCCESS"}', b'{"code": 0}', b'{"code": "00; DROP TABLE"}'],
)
def test_a_success_status_without_a_proper_code_is_uncertain(stub_psp: Callable[[Reply], str], body: bytes) -> None:
    rail = UpiRail({"psp_url": stub_psp(answer(200, body)), "timeout": "2"})
    result = rail.execute(upi_request("alice@okhdfc"))
    assert (result.outcome, result.code) == (Outcome.UNCERTAIN, "BAD_RESPONSE")


def test_a_dropped_connection_after_sending_is_uncertain(stub_psp: Callable[[Reply], str]) -> None:
    rail = UpiRail({"psp_url": stub_psp(hang_up), "timeout": "2"})
    result = rail.execute(upi_request("alice@okhdfc"))
    assert (result.outcome, result.code) == (Outcome.UNCERTAIN, "PSP_ERROR")


def test_a_404_without_the_psp_code_is_a_wrong_url_not_an_unknown_payment(stub_psp: Callable[[Reply], str]) -> None:
    rail = UpiRail({"psp_url": stub_psp(answer(404, b"not here")), "timeout": "2"})
    request = upi_request("alice@okhdfc")
    assert (rail.status(request).outcome, rail.status(request).code) == (Outcome.TRANSIENT, "HTTP_404")
    assert rail.execute(request).outcome is Outcome.TRANSIENT


def test_a_stopped_sandbox_answers_nobody_even_on_kept_alive_connections() -> None:
    box = UpiSandbox({})
    rail = UpiRail({"psp_url": box.start("127.0.0.1", 0), "timeout": "1"})
    assert rail.execute(upi_request("alice@okhdfc")).outcome is Outcome.COMPLETED
    box.stop()
    result = rail.execute(upi_request("alice@okhdfc"))
    assert result.outcome in (Outcome.TRANSIENT, Outcome.UNCERTAIN)
    assert result.code in ("PSP_UNREACHABLE", "PSP_ERROR")


@pytest.fixture
def keyed_sandbox() -> Iterator[str]:
    box = UpiSandbox({"api_key": SECRET, "collect_approve_seconds": "0"})
    yield box.start("127.0.0.1", 0)
    box.stop()


def test_the_api_key_is_sent_and_required(keyed_sandbox: str) -> None:
    keyed = UpiRail({"psp_url": keyed_sandbox, "api_key": SECRET})
    assert keyed.execute(upi_request("alice@okhdfc")).outcome is Outcome.COMPLETED
    for rail in (UpiRail({"psp_url": keyed_sandbox}), UpiRail({"psp_url": keyed_sandbox, "api_key": "wrong"})):
        result = rail.execute(upi_request("alice@okhdfc"))
        assert (result.outcome, result.code) == (Outcome.TRANSIENT, "HTTP_401")


@pytest.mark.parametrize("payer", ["alice@okhdfc", "insufficient@okhdfc", "timeout@okhdfc", "deemed@okhdfc"])
def test_the_api_key_appears_in_no_result_or_repr(keyed_sandbox: str, payer: str) -> None:
    rail = UpiRail({"psp_url": keyed_sandbox, "api_key": SECRET, "timeout": "2"})
    request = upi_request(payer)
    results = [rail.execute(request), rail.status(request), rail.refund(request, Money(100, "INR"), "rf")]
    unreachable = UpiRail({"psp_url": f"http://127.0.0.1:{free_port()}", "api_key": SECRET})
    results.append(unreachable.execute(request))
    text = msgspec.json.encode(results).decode() + repr(results) + repr(rail) + repr(unreachable) + str(vars(rail))
    assert SECRET not in text
