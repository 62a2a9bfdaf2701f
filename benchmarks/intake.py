"""Benchmark: accepted payments per second through the HTTP API, against the reference durable write.

Prints pgbench's rate for the minimal durable write of one payment (shared/bench/reference-payment-write.sh)
and FlossPay's rate of accepted POST /api/v1/pay requests (HMAC auth, idempotency, one transaction)
measured on the same machine and database in the same run, and their ratio (target: >= 0.5).

    python3 scripts/dev.py bench intake [--seconds 10] [--connections 16] [--api-workers 2]
                                        [--rate-limit redis|process|off]

Needs PostgreSQL (FLOSSPAY_BENCH_DATABASE_URL, default the local server) and wrk (apt-get install wrk).
``--rate-limit``: the per-client token bucket in Redis (FLOSSPAY_BENCH_REDIS_URL, default the local
server, db 15; the production set-up and the default), in each API process, or off; the bench client's
bucket is large enough never to refuse, so the figure is the limiter's cost alone.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import httpx
import sqlalchemy

from flosspay.adapters.cli.signing import signed_headers

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
SERVER = os.environ.get("FLOSSPAY_BENCH_DATABASE_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")


def shared_dir() -> Path:
    for candidate in (os.environ.get("FLOSSPAY_SHARED_DIR"), ROOT.parent / "shared", ROOT / "shared"):
        if candidate and (Path(candidate) / "bench" / "reference-payment-write.sh").exists():
            return Path(candidate)
    sys.exit("cannot find shared/bench/reference-payment-write.sh (set FLOSSPAY_SHARED_DIR)")


def reference_tps(clients: int, seconds: int, db_url: str) -> float:
    script = shared_dir() / "bench" / "reference-payment-write.sh"
    plain = db_url.replace("postgresql+psycopg://", "postgresql://")
    out = subprocess.run(
        ["bash", str(script), str(clients), str(seconds), plain], capture_output=True, text=True, check=True
    ).stdout
    match = re.search(r"reference payment write: (\d+) tps", out)
    if not match:
        sys.exit(f"reference benchmark printed nothing usable: {out!r}")
    return float(match.group(1))


def make_database() -> str:
    name = f"flosspay_bench_{uuid.uuid4().hex[:8]}"
    admin = sqlalchemy.create_engine(SERVER, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    admin.dispose()
    return SERVER.rsplit("/", 1)[0] + "/" + name


def drop_database(url: str) -> None:
    name = url.rsplit("/", 1)[1]
    admin = sqlalchemy.create_engine(SERVER, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    admin.dispose()


def write_requests(path: Path, client_id: str, secret: str, count: int) -> None:
    ts = int(time.time())
    with path.open("w") as out:
        for i in range(count):
            body = json.dumps(
                {
                    "senderUpi": f"payer{i % 997}@upi",
                    "receiverUpi": "shop@upi",
                    "amount": f"{1 + i % 5000}.{i % 100:02d}",
                    "note": "bench",
                },
                separators=(",", ":"),
            )
            key = f"bench-{uuid.uuid4().hex}"
            headers = signed_headers(
                client_id=client_id,
                secret=secret,
                method="POST",
                path="/api/v1/pay",
                body=body.encode(),
                idempotency_key=key,
                timestamp=ts,
            )
            out.write(f"{client_id}\t{ts}\t{key}\t{headers['X-HMAC']}\t{body}\n")


def run_wrk(url: str, requests: Path, threads: int, connections: int, seconds: int) -> tuple[float, int, str]:
    env = dict(os.environ, FLOSSPAY_BENCH_REQUESTS=str(requests), FLOSSPAY_BENCH_THREADS=str(threads))
    out = subprocess.run(
        [
            "wrk",
            f"-t{threads}",
            f"-c{connections}",
            f"-d{seconds}s",
            "--latency",
            "-s",
            str(Path(__file__).with_name("intake.lua")),
            url,
        ],
        capture_output=True,
        text=True,
        env=env,
        check=True,
    ).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    bad = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return rps, int(bad.group(1)) if bad else 0, out


def count_payments(db_url: str) -> int:
    engine = sqlalchemy.create_engine(db_url)
    with engine.connect() as conn:
        n = conn.exec_driver_sql("SELECT count(*) FROM payments").scalar_one()
    engine.dispose()
    return int(n)


def tree_cpu_seconds(pid: int) -> float:
    """User + system CPU of ``pid`` and its descendants so far (Linux /proc): what the API spends,
    whatever else shares the machine, so a steadier figure than a rate."""
    total, pending = 0.0, [pid]
    while pending:
        current = pending.pop()
        try:
            fields = Path(f"/proc/{current}/stat").read_text().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
            for task in Path(f"/proc/{current}/task").iterdir():
                pending += [int(c) for c in (task / "children").read_text().split()]
        except (OSError, ValueError):
            continue
    return total


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--api-workers", type=int, default=2)
    parser.add_argument("--wrk-threads", type=int, default=2)
    parser.add_argument("--rate-limit", choices=["redis", "process", "off"], default="redis")
    args = parser.parse_args()
    if not shutil.which("wrk"):
        sys.exit("wrk is not installed (apt-get install wrk)")
    db_url = make_database()
    env = {k: v for k, v in os.environ.items() if not k.startswith("FLOSSPAY_")}
    tmp = Path(tempfile.mkdtemp(prefix="flosspay-bench-"))
    env.update(
        FLOSSPAY_DATABASE_URL=db_url,
        FLOSSPAY_DATA_DIR=str(tmp),
        FLOSSPAY_RAILS="upi",
        FLOSSPAY_UPI_PSP_URL="http://127.0.0.1:9",
        FLOSSPAY_LOG_LEVEL="WARNING",
        FLOSSPAY_RATE_LIMIT="off" if args.rate_limit == "off" else "on",
    )
    redis_url = os.environ.get("FLOSSPAY_BENCH_REDIS_URL", "redis://127.0.0.1:6379/15")
    if args.rate_limit == "redis":
        env.update(FLOSSPAY_REDIS_URL=redis_url, FLOSSPAY_QUEUE_NAMESPACE=f"flosspay-bench-{uuid.uuid4().hex[:8]}")
    api = None
    try:
        subprocess.run([str(BIN / "flosspay"), "db", "upgrade"], env=env, check=True, capture_output=True)
        creds = json.loads(
            subprocess.run(
                [
                    str(BIN / "flosspay"),
                    "clients",
                    "create",
                    "bench",
                    "--json",
                    "--rate",
                    "1000000",
                    "--burst",
                    "10000000",
                ],
                env=env,
                check=True,
                capture_output=True,
                text=True,
            ).stdout
        )
        ref = reference_tps(args.connections, args.seconds, db_url)
        print(f"reference payment write (pgbench, {args.connections} clients): {ref:,.0f} tps", flush=True)
        port = 18000 + os.getpid() % 1000
        api = subprocess.Popen(
            [str(BIN / "flosspay"), "api", "--port", str(port), "--workers", str(args.api_workers)],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        base = f"http://127.0.0.1:{port}"
        for _ in range(100):
            try:
                if httpx.get(f"{base}/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.1)
        requests = tmp / "requests.tsv"
        write_requests(requests, creds["clientId"], creds["secret"], count=max(20_000, 4000 * args.seconds))
        run_wrk(base, requests, args.wrk_threads, args.connections, 2)  # warm-up (pools, caches); keys then replay
        write_requests(requests, creds["clientId"], creds["secret"], count=max(20_000, 4000 * args.seconds))
        before = count_payments(db_url)
        cpu_before = tree_cpu_seconds(api.pid)
        rps, bad, out = run_wrk(base, requests, args.wrk_threads, args.connections, args.seconds)
        cpu_after = tree_cpu_seconds(api.pid)
        accepted = (count_payments(db_url) - before) / args.seconds
        latency = re.search(r"99%\s+(\S+)", out)
        print(
            f"FlossPay intake (POST /api/v1/pay, {args.api_workers} API processes, {args.connections} connections, "
            f"rate limit {args.rate_limit}): "
            f"{rps:,.0f} req/s, {accepted:,.0f} new payments/s, non-2xx {bad}, "
            f"p99 {latency.group(1) if latency else '?'}"
        )
        print(f"ratio accepted/reference: {accepted / ref:.2f}  (target >= 0.50)")
        cpu_us = (cpu_after - cpu_before) / max(accepted * args.seconds, 1) * 1e6
        print(f"API CPU per accepted request: {cpu_us:,.0f} us (all API processes, measured run only)")
    finally:
        if api is not None:
            api.terminate()
            api.wait(10)
        drop_database(db_url)
        shutil.rmtree(tmp, ignore_errors=True)
        if args.rate_limit == "redis":
            import redis

            client = redis.Redis.from_url(redis_url)
            keys = list(client.scan_iter(f"{env['FLOSSPAY_QUEUE_NAMESPACE']}:*"))
            if keys:
                client.delete(*keys)
            client.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
