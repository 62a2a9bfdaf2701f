"""A real HTTP receiver on loopback that records every webhook delivery it gets.

Behaviours: answer 200; fail the first N requests with 500 then succeed; hang (never answer until
released); answer 410 Gone. Used by the delivery tests and the benchmark.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class Receiver:
    """``fail_first``: requests answered 500 before the first 200; ``mode``: ok | hang | gone | redirect."""

    mode: str = "ok"
    fail_first: int = 0
    deliveries: list[Received] = field(default_factory=list)
    release: threading.Event = field(default_factory=threading.Event)
    arrived: threading.Condition = field(default_factory=threading.Condition)
    _server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        assert self._server is not None
        return f"http://127.0.0.1:{self._server.server_address[1]}/hooks"

    def start(self) -> Receiver:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                body = self.rfile.read(length)
                with receiver.arrived:
                    receiver.deliveries.append(
                        Received(self.path, {k.lower(): v for k, v in self.headers.items()}, body)
                    )
                    count = len(receiver.deliveries)
                    receiver.arrived.notify_all()
                if receiver.mode == "hang":
                    receiver.release.wait(60)
                    return
                if receiver.mode == "huge":  # 50 MB of answer: the sender must stop reading early
                    self.send_response(200)
                    self.send_header("content-length", str(50 * 1024 * 1024))
                    self.end_headers()
                    try:
                        for _ in range(50 * 16):
                            self.wfile.write(b"y" * 65536)
                    except OSError:
                        pass
                    return
                if receiver.mode == "gone":
                    status, answer = 410, b"gone for good"
                elif receiver.mode == "redirect":
                    status, answer = 307, b""
                elif count <= receiver.fail_first:
                    status, answer = 500, b"x" * 4000
                else:
                    status, answer = 200, b"ok"
                self.send_response(status)
                if status == 307:
                    self.send_header("location", "http://127.0.0.1:1/elsewhere")
                self.send_header("content-length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

        class Server(ThreadingHTTPServer):
            def handle_error(self, request: Any, client_address: Any) -> None:
                pass  # a sender killed mid-request resets its connection: expected here

        self._server = Server(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        self.release.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    def wait_for(self, count: int, timeout: float = 10.0) -> list[Received]:
        with self.arrived:
            self.arrived.wait_for(lambda: len(self.deliveries) >= count, timeout)
            return list(self.deliveries)

    def unique_ids(self) -> set[str]:
        return {d.headers["webhook-id"] for d in self.deliveries}
