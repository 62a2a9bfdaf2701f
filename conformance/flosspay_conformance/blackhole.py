"""A PSP that accepts connections and never answers: the rail's timeout is all that ends a call."""

from __future__ import annotations

import contextlib
import socket
import threading


class BlackHole:
    """Listens on loopback, accepts every connection, reads nothing back and never replies."""

    def __init__(self) -> None:
        self._listener: socket.socket | None = None
        self._held: list[socket.socket] = []
        self._lock = threading.Lock()
        self._stopped = threading.Event()
        self._thread: threading.Thread | None = None
        self.accepted = 0
        """How many connections it has accepted so far (a rail that connects at start-up shows here)."""

    def start(self) -> str:
        listener = socket.create_server(("127.0.0.1", 0), backlog=64)
        listener.settimeout(0.2)
        self._listener = listener
        self._thread = threading.Thread(target=self._accept, name="conformance-black-hole", daemon=True)
        self._thread.start()
        return f"http://127.0.0.1:{listener.getsockname()[1]}"

    def _accept(self) -> None:
        assert self._listener is not None
        while not self._stopped.is_set():
            try:
                conn, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            with self._lock:
                self._held.append(conn)
                self.accepted += 1

    def stop(self) -> None:
        self._stopped.set()
        if self._thread is not None:
            self._thread.join(timeout=2)
        with self._lock:
            for conn in self._held:
                with contextlib.suppress(OSError):
                    conn.close()
            self._held.clear()
        if self._listener is not None:
            self._listener.close()


def closed_port_url() -> str:
    """A loopback URL where nothing listens (connection refused: the request was never sent)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}"
