"""Start FlossPay's real processes (API, worker, sandbox, serve) for end-to-end tests."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

from flosspay.adapters.cli.signing import signed_headers

BIN = Path(sys.executable).parent
FLOSSPAY = str(BIN / "flosspay")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for(predicate: Callable[[], Any], timeout: float, what: str, interval: float = 0.1) -> Any:
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        try:
            last = predicate()
            if last:
                return last
        except (httpx.HTTPError, OSError) as exc:
            last = exc
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}; last: {last!r}")


class Proc:
    """A child process whose output goes to a log file (read on failure)."""

    def __init__(self, name: str, args: list[str], env: dict[str, str], log_dir: Path, cwd: Path | None = None) -> None:
        self.name = name
        self.log = log_dir / f"{name}.log"
        self._out = self.log.open("wb")
        self.popen = subprocess.Popen(args, env=env, stdout=self._out, stderr=subprocess.STDOUT, cwd=cwd)

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def kill(self) -> None:
        self.popen.send_signal(signal.SIGKILL)
        self.popen.wait(10)

    def stop(self, timeout: float = 15) -> int | None:
        if self.popen.poll() is None:
            self.popen.send_signal(signal.SIGTERM)
            try:
                self.popen.wait(timeout)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait(5)
        self._out.close()
        return self.popen.returncode


def run_cli(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([FLOSSPAY, *args], env=env, capture_output=True, text=True, timeout=60)


class Client:
    """A merchant: signs every request like the README says."""

    def __init__(self, base_url: str, client_id: str, secret: str) -> None:
        self.http = httpx.Client(base_url=base_url, timeout=10)
        self.client_id = client_id
        self.secret = secret
        self.signatures: list[str] = []  # every X-HMAC sent, so tests can check none is ever logged

    def post(self, path: str, body: dict[str, Any], key: str, headers: dict[str, str] | None = None) -> httpx.Response:
        raw = json.dumps(body).encode()
        signed = signed_headers(
            client_id=self.client_id, secret=self.secret, method="POST", path=path, body=raw, idempotency_key=key
        )
        self.signatures.append(signed["X-HMAC"])
        sent = {**signed, "Content-Type": "application/json", **(headers or {})}
        return self.http.post(path, content=raw, headers=sent)

    def status(self, payment_id: str) -> dict[str, Any]:
        path = f"/api/v1/transaction/{payment_id}/status"
        headers = signed_headers(client_id=self.client_id, secret=self.secret, method="GET", path=path, body=b"")
        self.signatures.append(headers["X-HMAC"])
        response = self.http.get(path, headers=headers)
        assert response.status_code == 200, response.text
        return dict(response.json())

    def wait_final(self, payment_id: str, timeout: float = 30) -> dict[str, Any]:
        final = {"COMPLETED", "FAILED", "DECLINED", "EXPIRED"}
        return dict(
            wait_for(
                lambda: (s := self.status(payment_id))["status"] in final and s,
                timeout,
                f"payment {payment_id} to finish",
            )
        )


def base_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FLOSSPAY_")}
    env.update(extra)
    return env
