"""SandboxServer over real loopback HTTP: routing, authentication, bodies, errors, delays, keep-alive, stop."""

from __future__ import annotations

import http.client
import socket
import time
from collections.abc import Iterator, Mapping
from types import MappingProxyType
from typing import ClassVar

import httpx
import pytest

from flosspay.railkit import Reply, SandboxRequest, SandboxServer

pytestmark = pytest.mark.integration

KEY = "sk_test_sandbox_server_77a1"
AUTH = {"Authorization": f"Bearer {KEY}"}


class ShopPsp(SandboxServer):
    """A tiny PSP: items by id, an echo of what it received, a slow endpoint and a broken one."""

    name: ClassVar[str] = "shop-sandbox"

    def __init__(self, api_key: str | None = KEY, *, verbose: bool = False) -> None:
        super().__init__(api_key=api_key, verbose=verbose)
        self.items = {"a/b": {"id": "a/b"}}

    def route(self, request: SandboxRequest) -> Reply | None:
        match request.method, request.parts:
            case "GET", ("v1", "items", item_id):
                item = self.items.get(item_id)
                return Reply(200, item) if item else Reply(404, {"code": "not_found"})
            case ("POST" | "PUT" | "PATCH" | "DELETE") as method, ("v1", "echo"):
                return Reply(200, {"method": method, "body": request.body, "q": request.param("q")})
            case "GET", ("v1", "slow", seconds):
                return Reply(200, {"slept": float(seconds)}, float(seconds))
            case "GET", ("v1", "broken"):
                raise RuntimeError(f"bug holding {KEY}")
        return None


class NpciPsp(ShopPsp):
    """Speaks another dialect: only a malformed request carries a code."""

    error_codes: ClassVar[Mapping[int, str]] = MappingProxyType({400: "U07"})


@pytest.fixture(scope="module")
def shop() -> Iterator[str]:
    with ShopPsp() as psp:
        yield psp.start("127.0.0.1", 0)


def test_health_needs_no_key_and_everything_else_does(shop: str) -> None:
    assert httpx.get(f"{shop}/v1/health").json() == {"status": "ok"}
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": KEY}):
        refused = httpx.get(f"{shop}/v1/items/x", headers=headers)
        assert (refused.status_code, refused.json()) == (
            401,
            {"code": "UNAUTHORISED", "error": "missing or wrong API key"},
        )


def test_routes_see_decoded_path_segments_query_and_json_body(shop: str) -> None:
    assert httpx.get(f"{shop}/v1/items/a%2Fb", headers=AUTH).json() == {"id": "a/b"}
    assert httpx.get(f"{shop}/v1/items/zz", headers=AUTH).status_code == 404
    echoed = httpx.put(f"{shop}/v1/echo?q=x%20y", json={"amountMinor": 5}, headers=AUTH)
    assert echoed.json() == {"method": "PUT", "body": {"amountMinor": 5}, "q": "x y"}
    assert echoed.headers["content-type"] == "application/json"
    empty = httpx.post(f"{shop}/v1/echo", headers=AUTH)
    assert empty.json() == {"method": "POST", "body": None, "q": None}
    assert httpx.delete(f"{shop}/v1/echo", headers=AUTH).json()["method"] == "DELETE"


def test_an_unknown_endpoint_is_a_404_in_the_sandboxes_dialect(shop: str) -> None:
    missing = httpx.post(f"{shop}/v2/anything", json={}, headers=AUTH)
    assert (missing.status_code, missing.json()) == (
        404,
        {"code": "NO_ROUTE", "error": "no endpoint POST /v2/anything"},
    )


def test_malformed_and_oversized_bodies_are_refused(shop: str) -> None:
    not_json = httpx.post(f"{shop}/v1/echo", content=b"{nope", headers=AUTH)
    assert (not_json.status_code, not_json.json()["code"]) == (400, "BAD_REQUEST")
    too_big = httpx.post(f"{shop}/v1/echo", content=b"x" * (64 * 1024 + 1), headers=AUTH)
    assert (too_big.status_code, too_big.json()["code"]) == (413, "TOO_LARGE")
    assert too_big.headers["connection"] == "close"


def test_a_chunked_body_is_refused_with_411(shop: str) -> None:
    chunked = httpx.post(f"{shop}/v1/echo", content=iter([b'{"a": 1}']), headers=AUTH)
    assert (chunked.status_code, chunked.json()["code"]) == (411, "LENGTH_REQUIRED")


def test_a_bug_in_a_route_answers_500_naming_only_the_exception_class(shop: str) -> None:
    broken = httpx.get(f"{shop}/v1/broken", headers=AUTH)
    assert (broken.status_code, broken.json()) == (500, {"code": "INTERNAL", "error": "sandbox error (RuntimeError)"})
    assert KEY not in broken.text


def test_a_reply_can_be_delayed(shop: str) -> None:
    started = time.monotonic()
    assert httpx.get(f"{shop}/v1/slow/0.3", headers=AUTH).json() == {"slept": 0.3}
    assert time.monotonic() - started >= 0.3


def test_connections_are_kept_alive_and_answers_are_not_held_back_by_nagle(shop: str) -> None:
    """Twenty small calls on one connection; with Nagle on, each waits ~40 ms for a delayed ACK."""
    host, port = shop.removeprefix("http://").split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=5)
    sockets = set()
    started = time.monotonic()
    for _ in range(20):
        connection.request("POST", "/v1/echo", body=b'{"a": 1}', headers=AUTH | {"Content-Type": "application/json"})
        answer = connection.getresponse()
        assert (answer.status, answer.read()) == (200, b'{"method": "POST", "body": {"a": 1}, "q": null}')
        sockets.add(connection.sock.getsockname()[1])
    elapsed = time.monotonic() - started
    connection.close()
    assert len(sockets) == 1  # one connection carried them all
    assert elapsed < 0.5, f"20 kept-alive calls took {elapsed:.2f}s"


def test_without_a_key_nobody_is_asked_for_one() -> None:
    with ShopPsp(api_key=None) as psp:
        url = psp.start()
        assert httpx.get(f"{url}/v1/items/a%2Fb").json() == {"id": "a/b"}


def test_a_sandbox_may_speak_its_psps_dialect_of_errors() -> None:
    with NpciPsp() as psp:
        url = psp.start()
        assert httpx.get(f"{url}/v1/items/x").json() == {"error": "missing or wrong API key"}
        assert httpx.post(f"{url}/v1/echo", content=b"{", headers=AUTH).json() == {
            "code": "U07",
            "error": "the body must be JSON",
        }


def test_start_twice_is_refused_stop_twice_is_fine_and_the_port_is_freed() -> None:
    psp = ShopPsp()
    url = psp.start("127.0.0.1", 0)
    assert repr(psp) == f"ShopPsp(base_url={url!r})"
    assert KEY not in repr(psp)
    with pytest.raises(RuntimeError, match="already running"):
        psp.start("127.0.0.1", 0)
    psp.stop()
    psp.stop()
    port = int(url.rsplit(":", 1)[1])
    with socket.create_server(("127.0.0.1", port)):
        pass
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"{url}/v1/health", timeout=1)


def test_a_stopped_sandbox_answers_nobody_even_on_kept_alive_connections() -> None:
    psp = ShopPsp()
    url = psp.start()
    with httpx.Client(base_url=url, headers=AUTH, timeout=2) as client:
        assert client.get("/v1/items/a%2Fb").status_code == 200  # the connection stays open in the pool
        psp.stop()
        with pytest.raises(httpx.TransportError):
            client.get("/v1/items/a%2Fb")


def test_an_ipv6_loopback_url_is_bracketed() -> None:
    if not socket.has_ipv6:
        pytest.skip("no IPv6 on this machine")
    psp = ShopPsp()
    try:
        url = psp.start("::1", 0)
    except OSError:
        pytest.skip("IPv6 loopback unavailable")
    try:
        assert url.startswith("http://[::1]:")
        assert httpx.get(f"{url}/v1/health").json() == {"status": "ok"}
    finally:
        psp.stop()


def test_a_caller_that_gives_up_leaves_no_noise(capfd: pytest.CaptureFixture[str]) -> None:
    with ShopPsp() as psp:
        url = psp.start()
        with pytest.raises(httpx.ReadTimeout):
            httpx.get(f"{url}/v1/slow/0.4", headers=AUTH, timeout=0.1)
        time.sleep(0.5)  # the sandbox answers the departed caller
        assert httpx.get(f"{url}/v1/health").status_code == 200
    out, err = capfd.readouterr()
    assert (out, err) == ("", "")


def test_verbose_sandboxes_log_request_lines_but_never_bodies(capfd: pytest.CaptureFixture[str]) -> None:
    with ShopPsp(verbose=True) as psp:
        url = psp.start()
        httpx.post(f"{url}/v1/echo", json={"cardNumber": "4111111111111111"}, headers=AUTH)
    err = capfd.readouterr().err
    assert '"POST /v1/echo HTTP/1.1" 200' in err
    assert "4111111111111111" not in err
    assert KEY not in err


class PagesPsp(SandboxServer):
    browser_prefixes = ("/pay/",)

    def route(self, request: SandboxRequest) -> Reply | None:
        match request.method, request.parts:
            case "GET", ("pay", session):
                return Reply.page(f"<p>pay {session}</p>")
            case "POST", ("pay", session):
                return Reply.redirect(f"https://shop.example/back?s={session}&d={request.body!r}")
            case "GET", ("v1", "secret"):
                return Reply(200, {"ok": True})
        return None


def test_customer_pages_need_no_key_answer_html_and_take_form_posts() -> None:
    with PagesPsp(api_key="k") as psp:
        url = psp.start()
        page = httpx.get(f"{url}/pay/s1", timeout=5)
        assert (page.status_code, page.headers["content-type"], page.text) == (
            200,
            "text/html; charset=utf-8",
            "<p>pay s1</p>",
        )
        posted = httpx.post(f"{url}/pay/s1", data={"decision": "approve", "x": "a b"}, timeout=5)
        assert posted.status_code == 303
        assert posted.headers["location"] == "https://shop.example/back?s=s1&d={'decision': 'approve', 'x': 'a b'}"
        assert httpx.get(f"{url}/v1/secret", timeout=5).status_code == 401, "outside the prefixes the key is needed"
        assert httpx.get(f"{url}/v1/secret", headers={"Authorization": "Bearer k"}, timeout=5).json() == {"ok": True}
