"""Benchmark: what the per-client rate limit adds to one authenticated POST /api/v1/pay.

Runs the real Litestar app in this process over in-memory stores (tests/fakes.py), so the figure
is the HTTP layer's own CPU per request, with the limiter off, in-process and in Redis, in
interleaved rounds of the same run; prints each one's CPU per request and its ratio to "off".

    python3 scripts/dev.py bench ratelimit [--requests 1500] [--rounds 5]

Needs Redis (FLOSSPAY_BENCH_REDIS_URL, default redis://127.0.0.1:6379/15).
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import os
import statistics
import sys
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests" / "integration" / "http")]

import httpx  # noqa: E402
import redis  # noqa: E402
from http_api_support import CLIENT_ID, CLIENT_SECRET, World, pay_body, signed_headers  # noqa: E402

from flosspay.adapters.http import create_app  # noqa: E402
from flosspay.adapters.rate_limit import InProcessRateLimiter, RedisRateLimiter  # noqa: E402
from flosspay.domain.bucket import BucketLimit  # noqa: E402
from flosspay.domain.clients import ApiClient  # noqa: E402

REDIS_URL = os.environ.get("FLOSSPAY_BENCH_REDIS_URL", "redis://127.0.0.1:6379/15")


async def cpu_per_request(limiter: object, requests: int, tag: str) -> float:
    world = World()
    limit = BucketLimit(rate=1_000_000, burst=10_000_000)  # never refuses: the check's cost alone
    world.clients[CLIENT_ID] = ApiClient(CLIENT_ID, "bench", CLIENT_SECRET, world.clock.now(), limit=limit)
    app = create_app(dataclasses.replace(world.services(), rate_limiter=limiter))
    stamp = int(world.clock.now().timestamp())
    prepared = []
    for i in range(requests + 100):
        body = json.dumps(pay_body()).encode()
        headers = signed_headers("POST", "/api/v1/pay", body, timestamp=stamp, key=f"{tag}-{i}")
        prepared.append((body, headers | {"Content-Type": "application/json"}))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://bench") as client:
        for body, headers in prepared[:100]:  # warm-up
            await client.post("/api/v1/pay", content=body, headers=headers)
        start = time.process_time()
        for body, headers in prepared[100:]:
            response = await client.post("/api/v1/pay", content=body, headers=headers)
            assert response.status_code == 200, response.text
        return (time.process_time() - start) / requests * 1e6


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--requests", type=int, default=1500)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    namespace = f"flosspay-bench-{uuid.uuid4().hex[:8]}"
    modes = {
        "off": lambda: None,
        "process": InProcessRateLimiter,
        "redis": lambda: RedisRateLimiter(REDIS_URL, namespace),
    }
    figures: dict[str, list[float]] = {mode: [] for mode in modes}
    try:
        for round_ in range(args.rounds):
            for mode, make in modes.items():
                figures[mode].append(asyncio.run(cpu_per_request(make(), args.requests, f"{mode}{round_}")))
    finally:
        client = redis.Redis.from_url(REDIS_URL)
        keys = list(client.scan_iter(f"{namespace}:*"))
        if keys:
            client.delete(*keys)
        client.close()
    anchor = statistics.median(figures["off"])
    for mode, values in figures.items():
        median = statistics.median(values)
        print(
            f"rate limit {mode:<8} CPU per request: median {median:,.0f} us, best {min(values):,.0f} us "
            f"(ratio to off {median / anchor:.2f})"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
