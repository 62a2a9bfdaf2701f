"""Benchmark: the API's own CPU per accepted ``POST /api/v1/pay``, in-process, without a server or a database.

Calls the ASGI callable of ``create_app()`` directly with pre-signed requests (one at a time, as
uvicorn would hand them over), over a unit of work that stores nothing, with metrics on
and the in-process rate limiter: what is left is FlossPay's and Litestar's work per request
(guard, routing, handler thread hop, use case, response, hooks). Prints µs of process CPU per
request. ``--baseline REV`` alternates each round with ``flosspay/`` as of REV (A/B in one run).

    python3 benchmarks/asgi_intake.py [--requests 3000] [--rounds 3] [--baseline REV]
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import itertools
import json
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent


def run_once(requests: int, rate_limit: str, calls: bool = False) -> float:
    """µs of CPU per accepted request, this process's ``flosspay`` (whichever is first on sys.path);
    with ``calls``, profiler events (calls and returns) per request instead."""
    sys.path[len(sys.path) :] = [str(ROOT), str(ROOT / "tests" / "integration" / "http")]
    from http_api_support import CLIENT_ID, CLIENT_SECRET, World, pay_body, signed_headers

    from flosspay.adapters.http import create_app
    from flosspay.adapters.rate_limit import InProcessRateLimiter
    from flosspay.domain.bucket import BucketLimit
    from flosspay.domain.clients import ApiClient

    world = World()
    limit = BucketLimit(rate=1_000_000, burst=10_000_000)  # never refuses: the check's cost alone
    world.clients[CLIENT_ID] = ApiClient(CLIENT_ID, "bench", CLIENT_SECRET, world.clock.now(), limit=limit)
    limiter = InProcessRateLimiter() if rate_limit == "process" else None
    find_client = _Found(world.clients)
    services = dataclasses.replace(
        world.services(),
        uow_factory=_NullUnitOfWork,
        find_client=find_client,
        rate_limiter=limiter,
        metrics_path="/metrics",
    )
    app: Any = create_app(services)
    stamp = int(world.clock.now().timestamp())
    warm = 200
    prepared = []
    for i in range(requests + warm):
        body = json.dumps(pay_body()).encode()
        signed = signed_headers("POST", "/api/v1/pay", body, timestamp=stamp, key=f"k-{i}")
        headers = [(k.lower().encode(), v.encode()) for k, v in signed.items()]
        headers += [
            (b"host", b"127.0.0.1:8000"),
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
        ]
        prepared.append((body, headers))

    async def one(body: bytes, headers: list[tuple[bytes, bytes]], statuses: list[int]) -> None:
        scope = {
            "type": "http",
            "asgi": {"version": "3.0", "spec_version": "2.3"},
            "http_version": "1.1",
            "server": ("127.0.0.1", 8000),
            "client": ("127.0.0.1", 50000),
            "scheme": "http",
            "method": "POST",
            "root_path": "",
            "path": "/api/v1/pay",
            "raw_path": b"/api/v1/pay",
            "query_string": b"",
            "headers": headers,
            "state": {},
        }
        messages = [{"type": "http.request", "body": body, "more_body": False}]

        async def receive() -> Any:
            return messages.pop() if messages else {"type": "http.disconnect"}

        async def send(message: Any) -> None:
            if message["type"] == "http.response.start":
                statuses.append(message["status"])

        await app(scope, receive, send)

    # Every function call and return, Python and C, on every thread: a figure the machine's load cannot move.
    counter, counting = itertools.count(), []

    def count(*_: object) -> None:
        if counting:
            next(counter)

    if calls:
        threading.setprofile(count)  # the handler threads start during the warm-up

    async def drive() -> float:
        statuses: list[int] = []
        started = asyncio.Event()

        async def lifespan_send(message: Any) -> None:
            if message["type"] == "lifespan.startup.complete":
                started.set()

        lifespan = asyncio.ensure_future(
            app({"type": "lifespan", "asgi": {"version": "3.0"}}, _lifespan_receive(), lifespan_send)
        )
        await started.wait()
        for body, headers in prepared[:warm]:
            await one(body, headers, statuses)
        if calls:
            sys.setprofile(count)
            counting.append(True)
        start = time.process_time()
        for body, headers in prepared[warm:]:
            await one(body, headers, statuses)
        spent = time.process_time() - start
        sys.setprofile(None)
        if calls:
            counting.clear()
            spent = next(counter) / 1e6  # reported per request below, as events
        refused = [s for s in statuses if s != 200]
        assert not refused, f"not accepted: {refused[:5]}"
        lifespan.cancel()
        return spent / requests * 1e6

    try:
        import uvloop

        return uvloop.run(drive())
    except ImportError:
        return asyncio.run(drive())


class _NullUnitOfWork:
    """Accepts every payment and stores nothing: the figure is the HTTP layer's, and it does not drift
    as a store grows (the in-memory one of tests/fakes.py deep-copies every payment)."""

    def __enter__(self) -> _NullUnitOfWork:
        self.payments = self
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def accept(self, *args: object) -> bool:
        return True

    def commit(self) -> None:
        return None


class _Found:
    """The container's ``ClientCache`` with every client cached: ``peek`` answers on the event loop."""

    def __init__(self, clients: dict[str, Any]) -> None:
        self.peek = clients.get

    def __call__(self, client_id: str) -> Any:
        return self.peek(client_id)


def _lifespan_receive() -> Any:
    sent = False

    async def receive() -> Any:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "lifespan.startup"}
        await asyncio.Event().wait()  # never shut down: the loop ends with the run

    return receive


def child(args: argparse.Namespace) -> float:
    """One round in a fresh interpreter, with ``source`` (a copy of ``flosspay/``) first on the path."""
    command = [sys.executable, __file__, "--child", "--requests", str(args.requests), "--rate-limit", args.rate_limit]
    command += ["--calls"] if args.calls else []
    return float(
        subprocess.run(
            command + (["--source", args.source] if args.source else []), check=True, capture_output=True, text=True
        ).stdout.split()[-1]
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--requests", type=int, default=3000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--rate-limit", choices=("process", "off"), default="process")
    parser.add_argument("--baseline", metavar="REV", help="alternate each round with flosspay/ as of REV")
    parser.add_argument("--calls", action="store_true", help="count profiler events per request instead of CPU")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--source", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        if args.source:
            sys.path.insert(0, args.source)
        print(f"{run_once(args.requests, args.rate_limit, args.calls):.1f}")
        return 0
    with tempfile.TemporaryDirectory() as tmp:
        variants: dict[str, str | None] = {"this tree": None}
        if args.baseline:
            archive = subprocess.run(
                ["git", "archive", args.baseline, "flosspay"], cwd=ROOT, capture_output=True, check=True
            )
            subprocess.run(["tar", "-x", "-C", tmp], input=archive.stdout, check=True)
            variants = {f"at {args.baseline}": tmp, **variants}
        figures: dict[str, list[float]] = {label: [] for label in variants}
        for _ in range(args.rounds):
            for label, source in variants.items():
                figures[label].append(child(argparse.Namespace(**{**vars(args), "source": source})))
    for label, values in figures.items():
        shown = ", ".join(f"{v:.0f}" for v in values)
        median, best = statistics.median(values), min(values)
        unit = "profiler events" if args.calls else "us CPU"
        print(f"{label:<16} {unit} per accepted request: median {median:,.0f}, best {best:,.0f} ({shown})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
