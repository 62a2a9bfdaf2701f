"""The sandbox over HTTP: authentication, malformed requests, and the standalone command."""

from __future__ import annotations

import os
import signal
import subprocess
import sys

import httpx
import pytest
from flosspay_card.sandbox import CardSandbox

from .conftest import API_KEY

pytestmark = pytest.mark.integration

AUTH = {"Authorization": f"Bearer {API_KEY}"}


def test_health_needs_no_key_but_everything_else_does(card_sandbox_url: str) -> None:
    assert httpx.get(f"{card_sandbox_url}/v1/health").json() == {"status": "ok"}
    assert httpx.get(f"{card_sandbox_url}/v1/charges/x").status_code == 401
    wrong = {"Authorization": "Bearer sk_test_nope"}
    assert httpx.post(f"{card_sandbox_url}/v1/tokens", json={}, headers=wrong).status_code == 401


def test_malformed_requests_get_clear_errors(card_sandbox_url: str) -> None:
    not_json = httpx.post(f"{card_sandbox_url}/v1/charges", content=b"{", headers=AUTH)
    assert (not_json.status_code, not_json.json()["code"]) == (400, "bad_request")
    too_big = httpx.post(f"{card_sandbox_url}/v1/charges", content=b"x" * 70_000, headers=AUTH)
    assert too_big.status_code == 413
    assert httpx.get(f"{card_sandbox_url}/v1/nowhere", headers=AUTH).status_code == 404


def test_unknown_references_and_tokens_are_not_found(card_sandbox_url: str) -> None:
    assert httpx.get(f"{card_sandbox_url}/v1/charges/nope", headers=AUTH).json()["code"] == "not_found"
    assert httpx.get(f"{card_sandbox_url}/v1/sandbox/tokens/tok_nope", headers=AUTH).status_code == 404


def test_a_sandbox_cannot_start_twice() -> None:
    sandbox = CardSandbox()
    sandbox.start("127.0.0.1", 0)
    try:
        with pytest.raises(RuntimeError):
            sandbox.start("127.0.0.1", 0)
    finally:
        sandbox.stop()


def test_bad_sandbox_settings_name_the_variable() -> None:
    with pytest.raises(ValueError, match="FLOSSPAY_CARD_SANDBOX_SLOW_SECONDS"):
        CardSandbox({"sandbox_slow_seconds": "-1"})


def test_the_standalone_command_serves_until_terminated() -> None:
    command = [sys.executable, "-m", "flosspay_card.sandbox", "--port", "0", "--api-key", API_KEY]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True, env={**os.environ, "PYTHONUNBUFFERED": "1"})
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        url = line.rsplit(" ", 1)[-1].strip()
        assert url.startswith("http://127.0.0.1:"), line
        assert httpx.get(f"{url}/v1/health", timeout=5).status_code == 200
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=10) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
