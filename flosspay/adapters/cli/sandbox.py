"""``flosspay sandbox``: the rails' sandbox PSPs as a process of their own, for staging.

With a sandbox running, the production topology (``flosspay api`` and ``flosspay worker`` on
PostgreSQL and Redis) can be tried end to end with no PSP contract. It prints the
``export FLOSSPAY_<RAIL>_PSP_URL=…`` lines to paste into the shells of the API and the workers.
"""

from __future__ import annotations

import signal
import sys
import threading
from typing import Any

from flosspay.adapters.config import Settings
from flosspay.adapters.rails import RailLoader


class SandboxError(Exception):
    """A one-line message: which sandbox could not start, and why."""


def run_sandboxes(settings: Settings, wanted: str, host: str, port: int, stop: threading.Event | None = None) -> int:
    """Start ``wanted`` ("all" or one rail) from ``port`` up, rails in name order; serve until SIGTERM/SIGINT."""
    loader = RailLoader()
    names = sorted(loader.modules) if wanted == "all" else [wanted]
    if wanted != "all" and wanted not in loader.modules:
        installed = ", ".join(sorted(loader.modules)) or "none"
        raise SandboxError(f"no rail called {wanted!r} is installed (installed: {installed})")
    started: list[tuple[str, Any]] = []
    stop = stop or threading.Event()
    previous = {}
    if threading.current_thread() is threading.main_thread():
        previous = {sig: signal.signal(sig, lambda *_: stop.set()) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        next_port = port
        for name in names:
            try:
                sandbox = loader.sandbox(name, settings.rails.for_rail(name))
            except Exception as exc:
                raise SandboxError(f"the {name} sandbox cannot be built: {exc}") from None
            if sandbox is None:
                print(f"# {name}: this rail ships no sandbox", flush=True)
                continue
            try:
                url = sandbox.start(host, next_port)
            except OSError as exc:
                where = f"{host}:{next_port}"
                raise SandboxError(
                    f"the {name} sandbox cannot listen on {where}: {exc.strerror or exc} (--port)"
                ) from None
            started.append((name, sandbox))
            print(f"export FLOSSPAY_{name.upper()}_PSP_URL={url}", flush=True)
            if next_port:
                next_port += 1
        if not started:
            raise SandboxError("no sandbox to run")
        print(
            f"# {len(started)} sandbox PSP(s) running; they never move real money. Ctrl-C or SIGTERM stops them.",
            file=sys.stderr,
            flush=True,
        )
        while not stop.wait(0.5):
            pass
        return 0
    finally:
        for _, sandbox in reversed(started):
            sandbox.stop()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
