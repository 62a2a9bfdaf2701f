"""Benchmark: accepted payments per second through the HTTP API, against the reference durable write.

Prints pgbench's rate for the minimal durable write of one payment (shared/bench/reference-payment-write.sh)
and FlossPay's rate of accepted POST /api/v1/pay requests (HMAC auth, idempotency, one transaction)
measured on the same machine and database in the same run, and their ratio (target: >= 0.5).

    python3 scripts/dev.py bench intake [--seconds 10] [--connections 16] [--api-workers 2] [--metrics-cost]
                                        [--rate-limit redis|process|off] [--baseline REV] [--repeat N]
                                        [--py-spy FILE]

``--rate-limit`` chooses where the per-client token buckets live (Redis, each API process, or off).

Each run also prints the CPU the API processes and the database's backends spent per accepted payment
(from /proc). ``--baseline REV`` alternates each run (``--repeat`` times) with one whose API runs
``flosspay/`` as of git REV, so a change is measured against what it replaced under the same load.
``--py-spy FILE`` records one API process (raw collapsed stacks) during the measured run.

``--metrics-cost`` also runs the intake with metrics off (FLOSSPAY_METRICS_PATH=off: no histograms,
no /metrics) right after, on the same database, and prints the rate with metrics on over off.

Needs PostgreSQL (FLOSSPAY_BENCH_DATABASE_URL, default the local server) and wrk (apt-get install wrk).
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


_PER_REQUEST = """
import timeit
from flosspay.adapters.metrics import HTTP_LATENCY, PAYMENTS_CREATED
def one():
    HTTP_LATENCY.labels("/api/v1/pay", "POST", "200").observe(0.004)
    PAYMENTS_CREATED.labels("upi").inc()
n = 100_000
print(timeit.timeit(one, number=n) / n * 1e6)
"""


def metrics_per_request_us(tmp: Path) -> tuple[float, float]:
    """CPU microseconds the metrics add to one accepted payment: one process, and multiprocess mode."""
    single = subprocess.run([sys.executable, "-c", _PER_REQUEST], capture_output=True, text=True, check=True)
    shared = tmp / "metrics-bench"
    shared.mkdir(exist_ok=True)
    env = dict(os.environ, PROMETHEUS_MULTIPROC_DIR=str(shared))
    multi = subprocess.run([sys.executable, "-c", _PER_REQUEST], capture_output=True, text=True, check=True, env=env)
    return float(single.stdout), float(multi.stdout)


def api_children(pid: int) -> list[int]:
    return [int(c) for task in Path(f"/proc/{pid}/task").glob("*/children") for c in task.read_text().split()]


def intake_rate(
    args: argparse.Namespace,
    env: dict[str, str],
    creds: dict[str, str],
    db_url: str,
    tmp: Path,
    label: str,
    source: Path | None = None,
) -> float:
    """Start the API, warm it up, measure accepted payments per second with wrk; the API is stopped after.

    ``source``: the API runs this copy of ``flosspay/`` (put first on its children's path) instead of the installed one.
    """
    from worker_drain import Backends, tree_cpu_seconds

    port = 18000 + os.getpid() % 1000
    if source is not None:
        env = {**env, "PYTHONPATH": os.pathsep.join(filter(None, [str(source), env.get("PYTHONPATH")]))}
    api = subprocess.Popen(
        [str(BIN / "flosspay"), "api", "--port", str(port), "--workers", str(args.api_workers)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
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
        backends = Backends(db_url)
        backends.mark()
        api_cpu = tree_cpu_seconds(api.pid)
        spy = None
        if args.py_spy:
            worker = api_children(api.pid)[-1]
            spy = subprocess.Popen(
                [
                    *(str(BIN / "py-spy"), "record", "--pid", str(worker), "--rate", "200", "--format", "raw"),
                    *("-o", args.py_spy, "--duration", str(args.seconds), *(["--gil"] if args.py_spy_gil else [])),
                ],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
        rps, bad, out = run_wrk(base, requests, args.wrk_threads, args.connections, args.seconds)
        api_cpu = tree_cpu_seconds(api.pid) - api_cpu
        db_cpu = backends.since_first()
        backends.close()
        if spy is not None:
            spy.wait(30)
        new = count_payments(db_url) - before
        accepted = new / args.seconds
        latency = re.search(r"^\s+99%\s+(\S+)", out, re.MULTILINE)
        print(
            f"FlossPay intake ({label}, rate limit {args.rate_limit}; POST /api/v1/pay, {args.api_workers} API "
            f"processes, {args.connections} connections): {rps:,.0f} req/s, {accepted:,.0f} new payments/s, "
            f"non-2xx {bad}, "
            f"p99 {latency.group(1) if latency else '?'}, "
            f"CPU per payment: API {api_cpu / max(new, 1) * 1e3:.3f} ms, "
            f"PostgreSQL {db_cpu / max(new, 1) * 1e3:.3f} ms",
            flush=True,
        )
        return accepted
    finally:
        api.terminate()
        api.wait(10)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--api-workers", type=int, default=2)
    parser.add_argument("--wrk-threads", type=int, default=2)
    parser.add_argument("--metrics-cost", action="store_true", help="also measure with metrics off, print on/off")
    parser.add_argument("--rate-limit", choices=["redis", "process", "off"], default="redis")
    parser.add_argument("--baseline", metavar="REV", help="alternate each run with an API running flosspay/ at REV")
    parser.add_argument("--repeat", type=int, default=1, help="runs of each variant (alternated)")
    parser.add_argument("--py-spy", metavar="FILE", help="record one API process with py-spy (raw) while measured")
    parser.add_argument("--py-spy-gil", action="store_true", help="with --py-spy: only samples holding the GIL")
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
    if args.rate_limit == "redis":
        redis_url = os.environ.get("FLOSSPAY_BENCH_REDIS_URL", "redis://127.0.0.1:6379/15")
        env.update(FLOSSPAY_REDIS_URL=redis_url, FLOSSPAY_QUEUE_NAMESPACE=f"flosspay-bench-{uuid.uuid4().hex[:8]}")
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
        if args.baseline:
            from worker_drain import export_revision

            source = export_revision(args.baseline, tmp / "baseline")
            ab: dict[str, list[float]] = {}
            for _ in range(args.repeat):
                for label, where in ((f"at {args.baseline}", source), ("this tree", None)):
                    ab.setdefault(label, []).append(intake_rate(args, env, creds, db_url, tmp, label, where))
            again = reference_tps(args.connections, args.seconds, db_url)
            print(f"reference payment write again (pgbench): {again:,.0f} tps", flush=True)
            ref = (ref + again) / 2
            for label, values in ab.items():
                mean = sum(values) / len(values)
                print(f"{label}: {mean:,.0f} accepted/s (mean of {len(values)}), ratio to reference {mean / ref:.3f}")
            return 0
        runs = [("metrics on", {}), ("metrics off", {"FLOSSPAY_METRICS_PATH": "off"})] * 2 if args.metrics_cost else []
        runs = runs or [("metrics on", {})] * args.repeat
        rates: dict[str, list[float]] = {}
        for label, metrics_env in runs:
            rates.setdefault(label, []).append(intake_rate(args, {**env, **metrics_env}, creds, db_url, tmp, label))
        accepted = sum(rates["metrics on"]) / len(rates["metrics on"])
        if args.metrics_cost:  # alternated on, off, on, off: a drift of the shared machine hits both alike
            off = sum(rates["metrics off"]) / len(rates["metrics off"])
            print(f"metrics cost: intake with metrics on / off = {accepted / off:.3f} (means of two runs each)")
            single, multi = metrics_per_request_us(tmp)
            cpu_per_payment_us = (os.cpu_count() or 1) / accepted * 1e6
            print(
                f"metrics CPU per accepted payment: {single:.1f} us (one process), {multi:.1f} us (multiprocess), "
                f"against at most {cpu_per_payment_us:,.0f} us of machine CPU per payment here "
                f"({multi / cpu_per_payment_us:.2%})"
            )
        print(f"ratio accepted/reference: {accepted / ref:.2f}  (target >= 0.50)")
    finally:
        drop_database(db_url)
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
