"""The suite's helpers: finding leaked secrets, loading rails, the silent PSP."""

from __future__ import annotations

import socket
import time

import pytest
from flosspay_conformance import leaks
from flosspay_conformance.blackhole import BlackHole, closed_port_url
from flosspay_conformance.loading import RailLoadError, installed_rails, load_plugin

pytestmark = pytest.mark.unit

KEY = "sk_live_0123456789"


def test_long_secrets_are_found_anywhere_in_text() -> None:
    assert leaks.in_text(f"calling with key={KEY}!", [KEY]) == [KEY]
    assert leaks.in_text("nothing here", [KEY]) == []


def test_a_card_number_is_also_found_without_its_spaces() -> None:
    assert leaks.in_text("pan 4111111111111111", ["4111 1111 1111 1111"]) == ["4111111111111111"]


def test_short_secrets_count_only_as_whole_tokens() -> None:
    assert leaks.in_text("cvv=737 sent", ["737"]) == ["737"]
    assert leaks.in_text("http://127.0.0.1:37371/ line 1737", ["737"]) == []


def test_secrets_in_data_are_found_as_values_keys_or_inside_strings() -> None:
    assert leaks.in_data({"token": "tok_1", "cvv": "737"}, ["737"]) == ["737"]
    assert leaks.in_data({"nested": [{"note": f"k {KEY}"}]}, [KEY]) == [KEY]
    assert leaks.in_data({KEY: 1}, [KEY]) == [KEY]
    assert leaks.in_data({"amount": 7370}, ["737"]) == []


def test_failure_messages_mask_the_secret() -> None:
    assert leaks.masked([KEY]) == "sk…(18 chars)"


def test_an_unknown_rail_is_a_clear_load_error() -> None:
    with pytest.raises(RailLoadError, match=r"no rail 'no_such_rail'.*installed: ") as refused:
        load_plugin("no_such_rail")
    assert "pip install" in str(refused.value)
    assert isinstance(installed_rails(), list)


def test_the_black_hole_accepts_and_never_answers() -> None:
    hole = BlackHole()
    url = hole.start()
    port = int(url.rsplit(":", 1)[1])
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1) as conn:
            conn.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
            conn.settimeout(0.3)
            started = time.monotonic()
            with pytest.raises(TimeoutError):
                conn.recv(1)
            assert time.monotonic() - started >= 0.25
        deadline = time.monotonic() + 1
        while hole.accepted == 0 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert hole.accepted == 1
    finally:
        hole.stop()


def test_nothing_listens_at_the_closed_port() -> None:
    port = int(closed_port_url().rsplit(":", 1)[1])
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", port), timeout=1)
