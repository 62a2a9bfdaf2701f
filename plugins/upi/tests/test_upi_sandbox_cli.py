"""``python -m flosspay_upi.sandbox`` as a real process: prints its URL, serves, stops cleanly on a signal."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator

import httpx
import pytest

pytestmark = pytest.mark.e2e

COMMAND = [sys.executable, "-m", "flosspay_upi.sandbox"]


@pytest.fixture
def running() -> Iterator[tuple[subprocess.Popen[str], str]]:
    process = subprocess.Popen(
        [*COMMAND, "--host", "127.0.0.1", "--port", "0", "--collect-approve-seconds", "0", "--slow-seconds", "0.4"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        url = process.stdout.readline().strip()
        yield process, url
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=5)


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_it_prints_its_url_serves_and_stops_cleanly_on_a_signal(
    running: tuple[subprocess.Popen[str], str], signum: signal.Signals
) -> None:
    process, url = running
    assert url.startswith("http://127.0.0.1:")
    payment = {
        "reference": "cli-1",
        "flow": "PAY",
        "payer": "alice@okhdfc",
        "payee": "shop@okaxis",
        "amountMinor": 2800,
        "currency": "INR",
        "expiresAt": None,
    }
    assert httpx.post(f"{url}/v1/payments", json=payment, timeout=5).json()["code"] == "00"
    assert httpx.get(f"{url}/v1/payments/cli-1", timeout=5).json()["code"] == "00"
    assert len(httpx.get(f"{url}/v1/debits", timeout=5).json()["debits"]) == 1
    process.send_signal(signum)
    assert process.wait(timeout=5) == 0
    assert process.stderr is not None
    assert process.stderr.read() == ""


def test_a_client_that_gives_up_on_a_slow_payer_leaves_the_debit_and_no_noise(
    running: tuple[subprocess.Popen[str], str],
) -> None:
    process, url = running
    payment = {"reference": "crash-1", "flow": "PAY", "payer": "slow@okhdfc", "payee": "shop@okaxis"}
    with pytest.raises(httpx.ReadTimeout):
        httpx.post(f"{url}/v1/payments", json=payment | {"amountMinor": 100, "currency": "INR"}, timeout=0.1)
    assert [d["reference"] for d in httpx.get(f"{url}/v1/debits", timeout=5).json()["debits"]] == ["crash-1"]
    time.sleep(0.5)  # the sandbox answers the departed client
    assert httpx.get(f"{url}/v1/payments/crash-1", timeout=5).json()["code"] == "00"
    process.terminate()
    assert process.wait(timeout=5) == 0
    assert process.stderr is not None
    assert process.stderr.read() == ""


def test_a_bad_port_is_a_usage_error_not_a_traceback() -> None:
    done = subprocess.run([*COMMAND, "--port", "70000"], capture_output=True, text=True, timeout=30)
    assert done.returncode == 2
    assert "--port must be between 0 and 65535" in done.stderr
    assert "Traceback" not in done.stderr


def test_a_port_in_use_is_a_clear_error() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = subprocess.run([*COMMAND, "--port", str(port)], capture_output=True, text=True, timeout=30)
    assert done.returncode == 1
    assert f"cannot listen on 127.0.0.1:{port}" in done.stderr
    assert "Traceback" not in done.stderr
