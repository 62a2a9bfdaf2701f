"""PspTransport against real loopback servers: answers, and every way of not getting one, as outcomes.

Failures before sending are TRANSIENT, after sending UNCERTAIN; timeouts hold (also against a PSP
that trickles its answer); the API key is sent and never shows; one transport serves many threads
and a forked child.
"""

from __future__ import annotations

import contextlib
import os
import socket
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any, ClassVar

import pytest

from flosspay.railapi import Outcome
from flosspay.railkit import NoAnswer, PspAnswer, PspTransport, Reply, SandboxRequest, SandboxServer

pytestmark = pytest.mark.integration

SECRET = "sk_live_transport_secret_5e1d"
TIMEOUT = 0.4
MARGIN = 0.6  # how much longer than the timeout a failing call may take on a busy machine


class EchoPsp(SandboxServer):
    """Answers what it was sent and with which headers; ``/status/<n>`` answers HTTP n."""

    health_path: ClassVar[str | None] = None
    seen: list[dict[str, Any]]

    def __init__(self) -> None:
        super().__init__()
        self.seen = []

    def route(self, request: SandboxRequest) -> Reply | None:
        match request.parts:
            case ("status", status):
                return Reply(int(status), {"code": f"S{status}"})
            case ("echo",):
                return Reply(200, {"method": request.method, "body": request.body})
        return None


@pytest.fixture(scope="module")
def echo_url() -> Iterator[str]:
    with EchoPsp() as psp:
        yield psp.start()


Script = Callable[[socket.socket], None]


@pytest.fixture
def raw_psp() -> Iterator[Callable[[Script], str]]:
    """A TCP server that runs ``script`` on every connection it accepts; returns its base URL."""
    listeners: list[socket.socket] = []
    connections: list[socket.socket] = []

    def start(script: Script) -> str:
        listener = socket.create_server(("127.0.0.1", 0))
        listeners.append(listener)

        def serve() -> None:
            while True:
                try:
                    connection, _ = listener.accept()
                except OSError:
                    return
                connections.append(connection)
                threading.Thread(target=script, args=(connection,), daemon=True).start()

        threading.Thread(target=serve, daemon=True).start()
        return f"http://127.0.0.1:{listener.getsockname()[1]}"

    yield start
    for sock in listeners + connections:
        with contextlib.suppress(OSError):
            sock.close()


def read_request(connection: socket.socket) -> bytes:
    """Everything up to the end of the request's headers (the tests send small bodies with them)."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = connection.recv(65536)
        if not chunk:
            break
        data += chunk
    return data


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def timed(call: Callable[[], PspAnswer | NoAnswer]) -> tuple[PspAnswer | NoAnswer, float]:
    started = time.monotonic()
    answer = call()
    return answer, time.monotonic() - started


def test_a_json_answer_comes_back_with_its_status_and_body(echo_url: str) -> None:
    transport = PspTransport(echo_url, timeout_seconds=2)
    answer = transport.request("POST", "/echo", {"reference": "r-1", "amountMinor": 100})
    assert answer == PspAnswer(200, {"method": "POST", "body": {"reference": "r-1", "amountMinor": 100}})
    assert transport.request("GET", "/status/409") == PspAnswer(409, {"code": "S409"})
    assert transport.request("GET", "/nowhere") == PspAnswer(
        404, {"code": "NO_ROUTE", "error": "no endpoint GET /nowhere"}
    )


@pytest.mark.parametrize(
    ("content", "body"),
    [(b"", {}), (b"[1, 2]", {}), (b"<html>ok</html>", {}), (b'"text"', {}), (b'{"code": "00"}', {"code": "00"})],
)
def test_a_body_that_is_no_json_object_reads_as_empty(
    raw_psp: Callable[[Script], str], content: bytes, body: dict[str, Any]
) -> None:
    def reply(connection: socket.socket) -> None:
        read_request(connection)
        head = f"HTTP/1.1 200 OK\r\nContent-Length: {len(content)}\r\nConnection: close\r\n\r\n".encode()
        connection.sendall(head + content)
        connection.close()

    assert PspTransport(raw_psp(reply), timeout_seconds=2).request("GET", "/x") == PspAnswer(200, body)


def test_the_api_key_user_agent_and_accept_headers_are_sent(raw_psp: Callable[[Script], str]) -> None:
    requests: list[bytes] = []

    def reply(connection: socket.socket) -> None:
        requests.append(read_request(connection))
        connection.sendall(b"HTTP/1.1 204 No Content\r\nConnection: close\r\n\r\n")
        connection.close()

    url = raw_psp(reply)
    assert PspTransport(url, timeout_seconds=2, api_key=SECRET, user_agent="flosspay-test").request("GET", "/a") == (
        PspAnswer(204, {})
    )
    assert PspTransport(url, timeout_seconds=2).request("GET", "/b") == PspAnswer(204, {})
    keyed, anonymous = (r.decode().lower() for r in requests)
    assert f"authorization: bearer {SECRET.lower()}" in keyed
    assert "user-agent: flosspay-test" in keyed
    assert "accept: application/json" in keyed
    assert "authorization" not in anonymous


def test_a_refused_connection_is_transient_and_immediate() -> None:
    transport = PspTransport(f"http://127.0.0.1:{free_port()}", timeout_seconds=2, api_key=SECRET)
    answer, elapsed = timed(lambda: transport.request("POST", "/payments", {"reference": "r"}))
    assert isinstance(answer, NoAnswer)
    assert (answer.outcome, answer.code) == (Outcome.TRANSIENT, "PSP_UNREACHABLE")
    assert answer.outcome is Outcome.TRANSIENT
    assert elapsed < 1.5


def test_a_psp_that_never_answers_is_uncertain_within_the_timeout(raw_psp: Callable[[Script], str]) -> None:
    hold = threading.Event()
    url = raw_psp(lambda connection: hold.wait(10))
    try:
        answer, elapsed = timed(lambda: PspTransport(url, timeout_seconds=TIMEOUT).request("POST", "/pay", {"a": 1}))
    finally:
        hold.set()
    assert isinstance(answer, NoAnswer)
    assert (answer.outcome, answer.code) == (Outcome.UNCERTAIN, "PSP_TIMEOUT")
    assert TIMEOUT * 0.9 <= elapsed < TIMEOUT + MARGIN


def test_a_psp_that_trickles_its_answer_cannot_hold_the_call_past_the_timeout(
    raw_psp: Callable[[Script], str],
) -> None:
    """Every byte comes well within the read timeout, but the whole answer would take 3 s."""

    def trickle(connection: socket.socket) -> None:
        read_request(connection)
        with contextlib.suppress(OSError):
            connection.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 30\r\n\r\n")
            for _ in range(30):
                time.sleep(0.1)
                connection.sendall(b" ")

    answer, elapsed = timed(lambda: PspTransport(raw_psp(trickle), timeout_seconds=TIMEOUT).request("GET", "/slow"))
    assert isinstance(answer, NoAnswer)
    assert (answer.outcome, answer.code) == (Outcome.UNCERTAIN, "PSP_TIMEOUT")
    assert elapsed < TIMEOUT + MARGIN


def test_a_connection_dropped_after_sending_is_uncertain(raw_psp: Callable[[Script], str]) -> None:
    def hang_up(connection: socket.socket) -> None:
        read_request(connection)
        connection.shutdown(socket.SHUT_RDWR)
        connection.close()

    answer = PspTransport(raw_psp(hang_up), timeout_seconds=2, api_key=SECRET).request("POST", "/pay", {"a": 1})
    assert isinstance(answer, NoAnswer)
    assert (answer.outcome, answer.code) == (Outcome.UNCERTAIN, "PSP_ERROR")
    assert answer.reason == "PSP call failed (ProtocolError)"


def test_an_answer_cut_short_is_uncertain(raw_psp: Callable[[Script], str]) -> None:
    def cut_short(connection: socket.socket) -> None:
        read_request(connection)
        connection.sendall(b'HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n{"code": "00"')
        connection.close()

    answer = PspTransport(raw_psp(cut_short), timeout_seconds=2).request("GET", "/x")
    assert isinstance(answer, NoAnswer)
    assert (answer.outcome, answer.code) == (Outcome.UNCERTAIN, "PSP_ERROR")


def test_an_answer_larger_than_the_limit_is_uncertain(raw_psp: Callable[[Script], str]) -> None:
    def huge(connection: socket.socket) -> None:
        read_request(connection)
        with contextlib.suppress(OSError):
            connection.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 200000\r\n\r\n" + b" " * 200_000)

    answer = PspTransport(raw_psp(huge), timeout_seconds=2, max_answer_bytes=100_000).request("GET", "/x")
    assert answer == NoAnswer(Outcome.UNCERTAIN, "PSP_ERROR", "PSP answer larger than 100000 bytes")


def test_no_answer_and_no_repr_ever_shows_the_api_key(raw_psp: Callable[[Script], str]) -> None:
    hold = threading.Event()
    silent = raw_psp(lambda connection: hold.wait(10))
    try:
        answers = [
            PspTransport(f"http://127.0.0.1:{free_port()}", timeout_seconds=1, api_key=SECRET).request("GET", "/"),
            PspTransport(silent, timeout_seconds=0.2, api_key=SECRET).request("GET", f"/{SECRET}"),
        ]
    finally:
        hold.set()
    transport = PspTransport(silent, timeout_seconds=1, api_key=SECRET)
    assert all(isinstance(answer, NoAnswer) for answer in answers)
    assert SECRET not in repr(answers) + repr(transport) + str(answers)


def test_one_transport_serves_many_threads_at_once(echo_url: str) -> None:
    transport = PspTransport(echo_url, timeout_seconds=5, max_connections=4)

    def pay(n: int) -> PspAnswer | NoAnswer:
        return transport.request("POST", "/echo", {"n": n})

    with ThreadPoolExecutor(max_workers=12) as pool:
        answers = list(pool.map(pay, range(48)))
    assert answers == [PspAnswer(200, {"method": "POST", "body": {"n": n}}) for n in range(48)]


def test_a_closed_transport_opens_new_connections_on_the_next_call(echo_url: str) -> None:
    transport = PspTransport(echo_url, timeout_seconds=2)
    assert transport.request("GET", "/status/200") == PspAnswer(200, {"code": "S200"})
    transport.close()
    transport.close()
    assert transport.request("GET", "/status/201") == PspAnswer(201, {"code": "S201"})


def test_building_a_transport_touches_no_network(raw_psp: Callable[[Script], str]) -> None:
    accepted: list[socket.socket] = []
    url = raw_psp(accepted.append)
    transport = PspTransport(url, timeout_seconds=1, api_key=SECRET)
    time.sleep(0.2)
    assert accepted == []
    assert repr(transport).startswith("PspTransport(")


def port_teller(connection: socket.socket) -> None:
    """Answers every GET on a kept-alive connection with the caller's port: which connection it came on."""
    port = connection.getpeername()[1]
    with contextlib.suppress(OSError):
        while read_request(connection):
            body = b'{"port": %d}' % port
            connection.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body))


def test_calls_reuse_a_kept_alive_connection(raw_psp: Callable[[Script], str]) -> None:
    transport = PspTransport(raw_psp(port_teller), timeout_seconds=2)
    first, second = transport.request("GET", "/a"), transport.request("GET", "/b")
    assert isinstance(first, PspAnswer)
    assert first == second


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_a_forked_child_opens_its_own_connections(raw_psp: Callable[[Script], str]) -> None:
    """The parent's pooled connection is the parent's: a child sharing it would garble both."""
    transport = PspTransport(raw_psp(port_teller), timeout_seconds=2)
    parents = transport.request("GET", "/who")
    assert isinstance(parents, PspAnswer)
    child = os.fork()
    if child == 0:  # the child: whether it came on a new connection is its exit status
        fresh = False
        try:
            childs = transport.request("GET", "/who")
            fresh = isinstance(childs, PspAnswer) and childs.body["port"] != parents.body["port"]
        finally:
            os._exit(0 if fresh else 1)
    _, status = os.waitpid(child, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert transport.request("GET", "/who") == parents  # the parent still uses its own connection


def test_a_failed_tls_handshake_is_transient(raw_psp: Callable[[Script], str]) -> None:
    """The request cannot have left before TLS was up, however the handshake failed."""
    hold = threading.Event()
    hang_up = raw_psp(lambda connection: connection.close()).replace("http://", "https://")
    silent = raw_psp(lambda connection: hold.wait(10)).replace("http://", "https://")
    try:
        refused = PspTransport(hang_up, timeout_seconds=2, api_key=SECRET).request("POST", "/pay", {"a": 1})
        answer, elapsed = timed(lambda: PspTransport(silent, timeout_seconds=TIMEOUT).request("POST", "/pay", {"a": 1}))
    finally:
        hold.set()
    assert isinstance(refused, NoAnswer)
    assert (refused.outcome, refused.code) == (Outcome.TRANSIENT, "PSP_UNREACHABLE")
    assert isinstance(answer, NoAnswer)
    assert (answer.outcome, answer.code) == (Outcome.TRANSIENT, "PSP_UNREACHABLE")
    assert elapsed < TIMEOUT + MARGIN


@pytest.mark.parametrize("url", ["ftp://psp.example", "psp.example/v1", "http://"])
def test_a_url_that_names_no_http_server_is_transient(url: str) -> None:
    answer = PspTransport(url, timeout_seconds=1).request("POST", "/pay", {"a": 1})
    assert isinstance(answer, NoAnswer)
    assert (answer.outcome, answer.code) == (Outcome.TRANSIENT, "PSP_UNREACHABLE")


def test_a_caller_that_waits_too_long_for_a_pooled_connection_is_transient(raw_psp: Callable[[Script], str]) -> None:
    """One connection, three callers, a PSP that never answers: the one still waiting for the connection
    when its time runs out has sent nothing; the two that got it, in turn, may have."""
    hold = threading.Event()
    received: list[bytes] = []

    def silent(connection: socket.socket) -> None:
        received.append(read_request(connection))
        hold.wait(10)

    transport = PspTransport(raw_psp(silent), timeout_seconds=TIMEOUT, max_connections=1)
    with ThreadPoolExecutor(max_workers=3) as pool:
        calls = []
        for n in range(3):
            calls.append(pool.submit(transport.request, "POST", "/pay", {"n": n}))
            time.sleep(TIMEOUT / 4)  # the first holds the connection for TIMEOUT; one waiter gets it after
        try:
            answers = [call.result() for call in calls]
        finally:
            hold.set()
    outcomes = sorted((a.outcome.value, a.code) for a in answers if isinstance(a, NoAnswer))
    assert outcomes == [("TRANSIENT", "PSP_UNREACHABLE"), ("UNCERTAIN", "PSP_TIMEOUT"), ("UNCERTAIN", "PSP_TIMEOUT")]
    assert len(received) == 2


def test_nothing_is_sent_twice_and_no_redirect_is_followed(raw_psp: Callable[[Script], str]) -> None:
    """A POST repeated behind the caller's back could move money twice."""
    requests: list[bytes] = []

    def drop_or_redirect(connection: socket.socket) -> None:
        request = read_request(connection)
        requests.append(request)
        if request.startswith(b"POST /drop"):
            connection.close()
        else:
            connection.sendall(b"HTTP/1.1 302 Found\r\nLocation: /pay-again\r\nContent-Length: 0\r\n\r\n")

    transport = PspTransport(raw_psp(drop_or_redirect), timeout_seconds=2)
    dropped = transport.request("POST", "/drop", {"a": 1})
    assert isinstance(dropped, NoAnswer)
    assert dropped.outcome is Outcome.UNCERTAIN
    assert transport.request("POST", "/redirect", {"a": 1}) == PspAnswer(302, {})
    assert [r.split(b" ")[1] for r in requests] == [b"/drop", b"/redirect"]


def test_a_kept_alive_connection_the_psp_closed_meanwhile_is_replaced_not_failed(
    raw_psp: Callable[[Script], str],
) -> None:
    """A pooled connection the PSP hung up on while idle is seen before sending: the call opens a new one."""

    def once_then_hang_up(connection: socket.socket) -> None:
        port_teller_once(connection)
        connection.close()

    transport = PspTransport(raw_psp(once_then_hang_up), timeout_seconds=2)
    first = transport.request("GET", "/a")
    time.sleep(0.1)
    second = transport.request("POST", "/b", {"a": 1})
    assert isinstance(first, PspAnswer)
    assert isinstance(second, PspAnswer)
    assert first.body["port"] != second.body["port"]


def port_teller_once(connection: socket.socket) -> None:
    """``port_teller`` for one request, without ``Connection: close``: the client keeps the connection."""
    read_request(connection)
    body = b'{"port": %d}' % connection.getpeername()[1]
    connection.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body))


def test_the_base_url_path_prefixes_every_call(echo_url: str) -> None:
    transport = PspTransport(f"{echo_url}/status/", timeout_seconds=2)
    assert transport.request("GET", "/207") == PspAnswer(207, {"code": "S207"})


@pytest.fixture(scope="module")
def tls_files(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, str]:
    """A self-signed certificate for 127.0.0.1 and its key (PEM files)."""
    import datetime
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "psp.test")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    folder = tmp_path_factory.mktemp("tls")
    cert_file, key_file = folder / "cert.pem", folder / "key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return str(cert_file), str(key_file)


def test_https_works_with_a_trusted_certificate_and_is_refused_before_sending_without(
    raw_psp: Callable[[Script], str], tls_files: tuple[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Trust comes from SSL_CERT_FILE when set (as with httpx); an unknown certificate stops the call unsent."""
    import ssl

    cert_file, key_file = tls_files
    server_side = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_side.load_cert_chain(cert_file, key_file)
    requests: list[bytes] = []

    def tls_echo(connection: socket.socket) -> None:
        with contextlib.suppress(OSError):
            tls = server_side.wrap_socket(connection, server_side=True)
            requests.append(read_request(tls))
            tls.sendall(b'HTTP/1.1 200 OK\r\nContent-Length: 14\r\n\r\n{"code": "00"}')

    url = raw_psp(tls_echo).replace("http://", "https://")
    untrusted = PspTransport(url, timeout_seconds=2, api_key=SECRET).request("POST", "/pay", {"a": 1})
    assert isinstance(untrusted, NoAnswer)
    assert (untrusted.outcome, untrusted.code) == (Outcome.TRANSIENT, "PSP_UNREACHABLE")
    assert requests == []
    monkeypatch.setenv("SSL_CERT_FILE", cert_file)
    assert PspTransport(url, timeout_seconds=2).request("GET", "/x") == PspAnswer(200, {"code": "00"})
    assert len(requests) == 1


def test_an_http_psp_is_reached_through_the_proxy_the_environment_names(
    raw_psp: Callable[[Script], str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Egress proxies are common where PSPs are called from: HTTP_PROXY is honoured (as httpx did), absolute form."""
    seen: list[bytes] = []

    def proxy(connection: socket.socket) -> None:
        with contextlib.suppress(OSError):
            seen.append(read_request(connection))
            connection.sendall(b'HTTP/1.1 200 OK\r\nContent-Length: 14\r\n\r\n{"code": "00"}')

    monkeypatch.setenv("HTTP_PROXY", raw_psp(proxy))
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    answer = PspTransport("http://psp.invalid:8080/base", timeout_seconds=2).request("POST", "/pay", {"a": 1})
    assert answer == PspAnswer(200, {"code": "00"})
    assert seen[0].startswith(b"POST http://psp.invalid:8080/base/pay HTTP/1.1\r\n")


def test_an_https_psp_is_reached_through_a_connect_tunnel_of_the_proxy(
    raw_psp: Callable[[Script], str], tls_files: tuple[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """HTTPS_PROXY: a CONNECT tunnel to the PSP, TLS end to end with the PSP's own certificate."""
    import ssl

    cert_file, key_file = tls_files
    server_side = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_side.load_cert_chain(cert_file, key_file)

    def tls_psp(connection: socket.socket) -> None:
        with contextlib.suppress(OSError):
            tls = server_side.wrap_socket(connection, server_side=True)
            read_request(tls)
            tls.sendall(b'HTTP/1.1 200 OK\r\nContent-Length: 14\r\n\r\n{"code": "00"}')

    psp_url = raw_psp(tls_psp).replace("http://", "https://")
    psp_port = int(psp_url.rsplit(":", 1)[1])
    tunnels: list[bytes] = []

    def pipe(source: socket.socket, target: socket.socket) -> None:
        with contextlib.suppress(OSError):
            while data := source.recv(65536):
                target.sendall(data)

    def connect_proxy(connection: socket.socket) -> None:
        with contextlib.suppress(OSError):
            tunnels.append(read_request(connection))
            upstream = socket.create_connection(("127.0.0.1", psp_port))
            connection.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
            threading.Thread(target=pipe, args=(upstream, connection), daemon=True).start()
            pipe(connection, upstream)

    monkeypatch.setenv("SSL_CERT_FILE", cert_file)
    monkeypatch.setenv("HTTPS_PROXY", raw_psp(connect_proxy))
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    assert PspTransport(psp_url, timeout_seconds=2).request("GET", "/x") == PspAnswer(200, {"code": "00"})
    assert tunnels[0].startswith(f"CONNECT 127.0.0.1:{psp_port} HTTP/1.".encode())


def test_a_proxy_that_cannot_be_reached_is_transient_and_no_proxy_bypasses_it(
    echo_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HTTP_PROXY", f"http://127.0.0.1:{free_port()}")
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    unreachable = PspTransport(echo_url, timeout_seconds=2).request("POST", "/echo", {"a": 1})
    assert isinstance(unreachable, NoAnswer)
    assert (unreachable.outcome, unreachable.code) == (Outcome.TRANSIENT, "PSP_UNREACHABLE")
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    direct = PspTransport(echo_url, timeout_seconds=2).request("POST", "/echo", {"a": 1})
    assert isinstance(direct, PspAnswer) and direct.http_status == 200
