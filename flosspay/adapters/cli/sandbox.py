"""``flosspay sandbox``: the rails' sandbox PSPs as a process of their own, for staging.

With a sandbox running, the production topology (``flosspay api`` and ``flosspay worker`` on
PostgreSQL and Redis) can be tried end to end with no PSP contract. It prints the
``export FLOSSPAY_<RAIL>_PSP_URL=…`` and ``FLOSSPAY_<RAIL>_API_KEY=…`` lines to paste into the
shells of the API and the workers, and keeps them in ``<data dir>/sandbox.env`` (0600) while it
runs, for ``flosspay sandbox --print-env``. Each sandbox accepts only requests carrying the API
key generated for this run (unless ``FLOSSPAY_<RAIL>_API_KEY`` is set), so no other local user or
process can call it.
"""

from __future__ import annotations

import contextlib
import secrets
import signal
import sys
import threading
import time
from pathlib import Path
from typing import Any

from flosspay.adapters.config import Settings
from flosspay.adapters.private_files import ensure_private_dir, replace_private_file
from flosspay.adapters.rails import RailLoader

ENV_FILE = "sandbox.env"


def env_file(settings: Settings) -> Path:
    """Where a running ``flosspay sandbox`` keeps the variables that reach its sandboxes."""
    return settings.data_dir / ENV_FILE


def print_env(settings: Settings, wait_seconds: float = 60.0) -> int:
    """Print the running sandboxes' ``KEY=VALUE`` lines (for ``export $(flosspay sandbox --print-env)``).

    Waits for every sandbox of a ``flosspay sandbox`` just started in the background: the file is
    written once all are up, which took over 15 s for four sandboxes on a loaded 2-core machine (CI).
    """
    path = env_file(settings)
    deadline = time.monotonic() + wait_seconds
    while not path.exists():
        if time.monotonic() > deadline:
            raise SandboxError(f"no sandbox is running for data dir {settings.data_dir} (start `flosspay sandbox`)")
        time.sleep(0.1)
    sys.stdout.write(path.read_text())
    return 0


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
    variables: list[str] = []
    path = env_file(settings)
    try:
        next_port = port
        for name in names:
            rail_settings = dict(settings.rails.for_rail(name))
            api_key = rail_settings.get("api_key") or secrets.token_urlsafe(24)
            rail_settings["api_key"] = api_key
            try:
                sandbox = loader.sandbox(name, rail_settings)
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
            prefix = f"FLOSSPAY_{name.upper()}"
            variables += [f"{prefix}_PSP_URL={url}", f"{prefix}_API_KEY={api_key}"]
            print(f"export {prefix}_PSP_URL={url}", flush=True)
            print(f"export {prefix}_API_KEY={api_key}", flush=True)
            if next_port:
                next_port += 1
        if not started:
            raise SandboxError("no sandbox to run")
        ensure_private_dir(settings.data_dir)
        replace_private_file(path, "".join(line + "\n" for line in variables).encode())
        print(
            f"# {len(started)} sandbox PSP(s) running; they never move real money. Ctrl-C or SIGTERM stops them.",
            file=sys.stderr,
            flush=True,
        )
        while not stop.wait(0.5):
            pass
        return 0
    finally:
        if variables:
            with contextlib.suppress(OSError):
                path.unlink()
        for _, sandbox in reversed(started):
            sandbox.stop()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
