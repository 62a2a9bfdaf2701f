"""``python -m <rail>.sandbox``: run a rail's sandbox PSP from the command line until SIGTERM or SIGINT.

Settings come from the rail's ``FLOSSPAY_<RAIL>_<KEY>`` variables, then from the command line's
options. The first line on stdout is the base URL, alone, so scripts can read it; bad options and
settings are usage errors (exit 2) and a port that cannot be bound is exit 1, never a traceback.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

from flosspay.railkit.sandbox_server import SandboxServer

_STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)


@dataclass(frozen=True, slots=True)
class CliOption:
    """A command-line option that sets one sandbox setting: ``CliOption("--slow-seconds", "slow_seconds", "...")``."""

    flag: str
    key: str
    help: str


class SandboxFactory(Protocol):
    """Builds the sandbox from its settings; raises ``ValueError`` (one line) when they are unusable."""

    def __call__(self, settings: Mapping[str, str], *, verbose: bool) -> SandboxServer: ...


def run_cli(
    factory: SandboxFactory,
    argv: Sequence[str] | None = None,
    *,
    rail: str,
    prog: str,
    description: str,
    options: Sequence[CliOption] = (),
    default_port: int = 0,
    environ: Mapping[str, str] | None = None,
) -> int:
    """Parse ``argv``, start the sandbox, print its URL, and serve until SIGTERM or SIGINT; the exit code."""
    prefix = f"FLOSSPAY_{rail.upper()}_"
    parser = argparse.ArgumentParser(prog=prog, description=description)
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=default_port, help=f"port (default {default_port}; 0: any free)")
    for option in options:
        parser.add_argument(option.flag, dest=option.key, help=f"{option.help} (env {prefix}{option.key.upper()})")
    parser.add_argument("--verbose", action="store_true", help="log request lines and errors to stderr")
    args = parser.parse_args(argv)
    if not 0 <= args.port <= 65535:
        parser.error(f"--port must be between 0 and 65535, got {args.port}")
    environment = os.environ if environ is None else environ
    settings = {key[len(prefix) :].lower(): value for key, value in environment.items() if key.startswith(prefix)}
    for option in options:
        given = getattr(args, option.key)
        if given is not None:
            settings[option.key] = given
    try:
        sandbox = factory(settings, verbose=args.verbose)
    except ValueError as exc:
        parser.error(str(exc))
    stopping = threading.Event()
    previous = {signum: signal.signal(signum, lambda *_: stopping.set()) for signum in _STOP_SIGNALS}
    try:
        try:
            url = sandbox.start(args.host, args.port)
        except OSError as exc:
            print(f"error: cannot listen on {args.host}:{args.port}: {exc.strerror or exc}", file=sys.stderr)
            return 1
        print(url, flush=True)
        while not stopping.wait(0.5):
            pass
        sandbox.stop()
        return 0
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
