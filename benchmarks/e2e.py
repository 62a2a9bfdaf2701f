"""Benchmark: payments accepted AND completed per second, end to end, against both pgbench references.

    python3 scripts/dev.py bench e2e [--seconds 20] [--rate N] [--processes N] [--broker redis|rabbitmq]
                                     [--threads T] [--api-workers 2] [--connections 32] [--drain-seconds 30]

One invocation, all on this machine and a fresh PostgreSQL database:
1. the references: pgbench's durable payment write and durable payment lifecycle
   (shared/bench/reference-payment-write.sh and reference-payment-lifecycle.sh);
2. the stack: the UPI sandbox PSP, ``flosspay api --workers 2``, ``flosspay worker --processes N``;
3. a fixed-rate phase: wrk offers ``--rate`` payments/s (default: 0.5 x the reference lifecycle just
   measured, issue 15's goal) for ``--seconds``, then the backlog is given ``--drain-seconds`` to drain;
4. a saturation phase: wrk as fast as it can, same length, same drain.
For each phase it prints accepted/s and completed/s (payments reaching a final state), p50/p95/p99 of
POST /api/v1/pay (wrk's own histogram), the backlog over time (outbox rows due, unfinished payments,
chain lag), the CPU each process group spent per payment (API, worker, PostgreSQL backends of this
database, Redis, RabbitMQ, PSP, wrk; from /proc/<pid>/stat), and the ratios to both references.

Redis and RabbitMQ are shared servers: their CPU includes whatever else used them meanwhile.
A benchmark, not a test: it prints figures. Needs PostgreSQL, Redis (and RabbitMQ for --broker rabbitmq),
pgbench and wrk (apt-get install wrk).
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
import threading
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import sqlalchemy

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from intake import drop_database, make_database, reference_tps, shared_dir, write_requests

BIN = Path(sys.executable).parent
TICK = os.sysconf("SC_CLK_TCK")
COUNTS = (
    "SELECT (SELECT count(*) FROM payments), (SELECT count(*) FROM payments WHERE status IN "
    "('QUEUED', 'REQUESTED', 'PROCESSING', 'ACTION_REQUIRED')), "
    "(SELECT count(*) FROM outbox WHERE dispatched_at IS NULL)"
)
REDIS_URL = os.environ.get("FLOSSPAY_BENCH_REDIS_URL", "redis://127.0.0.1:6379/15")
RABBITMQ_URL = os.environ.get("FLOSSPAY_BENCH_RABBITMQ_URL", "amqp://guest:guest@127.0.0.1:5672/")


# --- processes and their CPU -------------------------------------------------------------------------


def _stat(pid: int) -> tuple[int, float] | None:
    """(parent pid, CPU seconds used) of a live process, from /proc/<pid>/stat."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = raw.rsplit(")", 1)[1].split()
    return int(fields[1]), (int(fields[11]) + int(fields[12])) / TICK


def _switches(pid: int) -> int:
    """Context switches (voluntary and not) of every thread of a live process, from /proc/<pid>/task/*/status:
    how often it gave up or lost a core, the cost that sharing two cores adds to each payment."""
    total = 0
    try:
        tasks = list(Path(f"/proc/{pid}/task").iterdir())
    except OSError:
        return 0
    for task in tasks:
        try:
            status = (task / "status").read_text()
        except OSError:
            continue
        total += sum(int(line.split()[1]) for line in status.splitlines() if "ctxt_switches:" in line)
    return total


def _all_pids() -> list[int]:
    return [int(p.name) for p in Path("/proc").iterdir() if p.name.isdigit()]


def descendants(roots: Iterable[int]) -> set[int]:
    """``roots`` and every process below them."""
    parents: dict[int, list[int]] = {}
    for pid in _all_pids():
        stat = _stat(pid)
        if stat is not None:
            parents.setdefault(stat[0], []).append(pid)
    found, todo = set(), list(roots)
    while todo:
        pid = todo.pop()
        if pid in found:
            continue
        found.add(pid)
        todo.extend(parents.get(pid, []))
    return found


def by_name(name: str) -> set[int]:
    """Processes whose command name is ``name`` (the shared servers)."""
    found = set()
    for pid in _all_pids():
        try:
            if Path(f"/proc/{pid}/comm").read_text().strip() == name:
                found.add(pid)
        except OSError:
            continue
    return found


@dataclass
class Group:
    """A set of processes whose CPU is added up; ``find`` says which processes belong right now."""

    name: str
    find: Callable[[], set[int]]
    start: dict[int, float] = field(default_factory=dict)
    start_switches: dict[int, int] = field(default_factory=dict)

    def mark(self) -> None:
        self.start = {pid: s[1] for pid in self.find() if (s := _stat(pid)) is not None}
        self.start_switches = {pid: _switches(pid) for pid in self.start}

    def switches(self) -> int:
        """Context switches since ``mark`` (threads that ended since are not counted)."""
        return sum(max(0, _switches(pid) - self.start_switches.get(pid, 0)) for pid in self.find() | set(self.start))

    def used(self) -> float:
        """CPU seconds since ``mark`` (a process that appeared since counts from zero)."""
        total = 0.0
        for pid in self.find() | set(self.start):
            stat = _stat(pid)
            if stat is not None:
                total += stat[1] - self.start.get(pid, 0.0)
        return total


def postgres_backends(engine: sqlalchemy.Engine) -> Callable[[], set[int]]:
    """The PostgreSQL backends connected to the benchmark's database (not the shared server's others)."""

    def find() -> set[int]:
        with engine.connect() as conn:
            rows = conn.exec_driver_sql(
                "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()"
            ).all()
        return {int(r[0]) for r in rows}

    return find


def redis_pid(url: str) -> set[int]:
    import redis

    client = redis.Redis.from_url(url)
    try:
        return {int(client.info("server")["process_id"])}
    finally:
        client.close()


# --- the stack ---------------------------------------------------------------------------------------


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_http(url: str, seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    sys.exit(f"{what} did not answer {url} within {seconds:.0f} s")


@dataclass
class Stack:
    env: dict[str, str]
    api_url: str
    procs: dict[str, subprocess.Popen[bytes]]
    logs: Path
    worker_command: list[str] = field(default_factory=list)

    def restart_worker(self) -> None:
        out = (self.logs / "worker.log").open("ab")
        self.procs["worker"] = subprocess.Popen(self.worker_command, env=self.env, stdout=out, stderr=subprocess.STDOUT)

    def stop_worker(self) -> None:
        worker = self.procs["worker"]
        worker.terminate()
        worker.wait(45)

    def stop(self) -> None:
        for proc in reversed(list(self.procs.values())):
            if proc.poll() is None:
                proc.terminate()
        for proc in self.procs.values():
            try:
                proc.wait(40)
            except subprocess.TimeoutExpired:
                proc.kill()


def start_stack(args: argparse.Namespace, env: dict[str, str], tmp: Path) -> Stack:
    logs = tmp / "logs"
    logs.mkdir()
    procs: dict[str, subprocess.Popen[bytes]] = {}

    def start(name: str, command: list[str]) -> None:
        out = (logs / f"{name}.log").open("wb")
        procs[name] = subprocess.Popen(command, env=env, stdout=out, stderr=subprocess.STDOUT)

    psp_port, api_port = free_port(), free_port()
    start("psp", [sys.executable, "-m", "flosspay_upi.sandbox", "--port", str(psp_port)])
    env["FLOSSPAY_UPI_PSP_URL"] = f"http://127.0.0.1:{psp_port}"
    wait_http(f"http://127.0.0.1:{psp_port}/v1/health", 20, "the UPI sandbox")
    start("api", [str(BIN / "flosspay"), "api", "--port", str(api_port), "--workers", str(args.api_workers)])
    if args.worker_nice:
        env["FLOSSPAY_WORKER_NICE"] = str(args.worker_nice)  # read by the worker only
    worker = [str(BIN / "flosspay"), "worker", "--processes", str(args.processes)]
    worker += ["--threads", str(args.threads)] if args.threads else []
    start("worker", worker)
    stack = Stack(env, f"http://127.0.0.1:{api_port}", procs, logs, worker)
    wait_http(f"{stack.api_url}/health/ready", 30, "the API")
    return stack


# --- load and measurement ----------------------------------------------------------------------------


def counts(engine: sqlalchemy.Engine) -> tuple[int, int, int]:
    """(payments, unfinished payments, outbox rows not yet dispatched)."""
    with engine.connect() as conn:
        row = conn.exec_driver_sql(COUNTS).one()
    return int(row[0]), int(row[1]), int(row[2])


def chain_lag(engine: sqlalchemy.Engine) -> int:
    from flosspay.adapters.persistence.backlog import backlog

    return int(backlog(engine)["flosspay_chain_lag"])


class Sampler:
    """Backlog every ``every`` seconds in a thread: (t, outbox, unfinished, chain lag)."""

    def __init__(self, engine: sqlalchemy.Engine, every: float) -> None:
        self.engine, self.every = engine, every
        self.samples: list[tuple[float, int, int, int]] = []
        self._stop = threading.Event()
        self._began = time.monotonic()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> Sampler:
        self._began = time.monotonic()
        self._thread.start()
        return self

    def _run(self) -> None:
        while True:
            _, unfinished, outbox = counts(self.engine)
            self.samples.append((time.monotonic() - self._began, outbox, unfinished, chain_lag(self.engine)))
            if self._stop.wait(self.every):
                return

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(10)

    def line(self) -> str:
        return "  ".join(f"{t:.0f}s:{o}/{u}/{c}" for t, o, u, c in self.samples)


def run_wrk(base: str, requests: Path, args: argparse.Namespace, rate: float | None) -> tuple[str, float]:
    """wrk's output and the CPU seconds it used (its rusage, read when it is reaped)."""
    env = dict(
        os.environ,
        FLOSSPAY_BENCH_REQUESTS=str(requests),
        FLOSSPAY_BENCH_THREADS=str(args.wrk_threads),
        FLOSSPAY_BENCH_RATE=str(rate or 0),
    )
    command = ["wrk", f"-t{args.wrk_threads}", f"-c{args.connections}", f"-d{args.seconds}s", "--timeout", "10s"]
    command += ["-s", str(Path(__file__).with_name("e2e.lua")), base]
    proc = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    assert proc.stdout is not None
    out = proc.stdout.read()
    _, _, usage = os.wait4(proc.pid, 0)
    proc.returncode = 0
    return out, usage.ru_utime + usage.ru_stime


@dataclass
class Phase:
    label: str
    accepted_per_s: float
    completed_per_s: float
    overall_per_s: float
    p50_ms: float
    p95_ms: float
    p99_ms: float
    non_2xx: int
    cpu_ms: dict[str, float]
    drained_in_s: float | None
    left: int


def phase(
    label: str,
    args: argparse.Namespace,
    stack: Stack,
    engine: sqlalchemy.Engine,
    creds: dict[str, str],
    groups: list[Group],
    tmp: Path,
    rate: float | None,
) -> Phase:
    requests = tmp / f"{label}.tsv"
    count = int((rate or 3000) * args.seconds * 1.2) + 1000
    write_requests(requests, creds["clientId"], creds["secret"], count=count)
    made0, unfinished0, _ = counts(engine)
    finished0 = made0 - unfinished0
    for group in groups:
        group.mark()
    sampler = Sampler(engine, max(1.0, args.seconds / 10)).start()
    began = time.monotonic()
    out, wrk_cpu = run_wrk(stack.api_url, requests, args, rate)
    elapsed = time.monotonic() - began
    made1, unfinished1, _ = counts(engine)
    cpu = {g.name: g.used() for g in groups} | {"wrk": wrk_cpu}
    switches = {g.name: g.switches() for g in groups}
    accepted = made1 - made0
    completed = (made1 - unfinished1) - finished0
    drain_began, drained_in = time.monotonic(), None
    while drained_in is None:
        _, unfinished, outbox = counts(engine)
        if unfinished == 0 and outbox == 0:
            drained_in = time.monotonic() - drain_began
        elif time.monotonic() - drain_began > args.drain_seconds:
            break
        else:
            time.sleep(0.25)
    sampler.stop()
    made2, left, _ = counts(engine)
    overall = ((made2 - left) - finished0) / (time.monotonic() - began)
    latency = re.search(r"E2E-LATENCY-US p50=(\d+) p95=(\d+) p99=(\d+)", out)
    if latency is None:
        sys.exit(f"wrk printed no latency line:\n{out}")
    bad = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    per = {name: (used * 1000 / completed if completed else float("nan")) for name, used in cpu.items()}
    for name in ("api", "wrk"):  # intake-side processes: per accepted payment
        per[name] = cpu[name] * 1000 / accepted if accepted else float("nan")
    offered = f"offered {rate:,.0f}/s" if rate else "saturation"
    print(f"\n-- {label} ({offered}, {args.seconds} s, {args.connections} connections)", flush=True)
    print(
        f"  accepted {accepted / elapsed:,.0f}/s, completed {completed / elapsed:,.0f}/s during the load "
        f"({overall:,.0f}/s over load and drain)"
    )
    p50, p95, p99 = (int(v) / 1000 for v in latency.groups())
    print(
        f"  POST /api/v1/pay p50 {p50:.1f} ms, p95 {p95:.1f} ms, p99 {p99:.1f} ms, non-2xx {bad.group(1) if bad else 0}"
    )
    print("  backlog (t: outbox due / unfinished payments / chain lag): " + sampler.line())
    if drained_in is not None:
        print(f"  drained {drained_in:.1f} s after the load stopped")
    else:
        print(f"  NOT drained {args.drain_seconds:.0f} s after the load: {left} payments unfinished")
    print(
        "  CPU ms per payment (api, wrk per accepted; the rest per completed): "
        + ", ".join(f"{name} {value:.2f}" for name, value in per.items())
    )
    print("  cores busy: " + ", ".join(f"{name} {used / elapsed:.2f}" for name, used in cpu.items()))
    print(_switch_line(switches, accepted, completed))
    return Phase(
        label,
        accepted / elapsed,
        completed / elapsed,
        overall,
        p50,
        p95,
        p99,
        int(bad.group(1)) if bad else 0,
        per,
        drained_in,
        left,
    )


def _switch_line(switches: dict[str, int], accepted: int, completed: int) -> str:
    """Context switches per payment: the API's per accepted payment, the others' per completed one."""
    per = {name: count / max(accepted if name == "api" else completed, 1) for name, count in switches.items()}
    return "  context switches per payment (api per accepted): " + ", ".join(
        f"{name} {value:.1f}" for name, value in per.items()
    )


def intake_then_drain(
    args: argparse.Namespace,
    stack: Stack,
    engine: sqlalchemy.Engine,
    creds: dict[str, str],
    groups: list[Group],
    tmp: Path,
) -> tuple[float, float]:
    """Intake alone (workers stopped) for ``--seconds``, then the workers started again on that backlog:
    (accepted/s of the intake, completed/s of the workers draining it, for at most ``--drain-seconds``)."""
    stack.stop_worker()
    requests = tmp / "intake.tsv"
    write_requests(requests, creds["clientId"], creds["secret"], count=3000 * args.seconds)
    made0 = counts(engine)[0]
    for group in groups:
        group.mark()
    began = time.monotonic()
    out, wrk_cpu = run_wrk(stack.api_url, requests, args, None)
    elapsed = time.monotonic() - began
    accepted = counts(engine)[0] - made0
    cpu = {g.name: g.used() for g in groups if g.name in ("api", "postgres")} | {"wrk": wrk_cpu}
    intake_switches = {g.name: g.switches() for g in groups if g.name in ("api", "postgres")}
    latency = re.search(r"E2E-LATENCY-US p50=(\d+) p95=(\d+) p99=(\d+)", out)
    p50, p95, p99 = (int(v) / 1000 for v in latency.groups()) if latency else (0.0, 0.0, 0.0)
    print(f"\n-- intake alone (workers stopped; saturation, {args.seconds} s, {args.connections} connections)")
    print(
        f"  accepted {accepted / elapsed:,.0f}/s, POST /api/v1/pay p50 {p50:.1f} ms, p95 {p95:.1f} ms, p99 {p99:.1f} ms"
    )
    print(
        "  CPU ms per accepted payment: "
        + ", ".join(f"{name} {used * 1000 / max(accepted, 1):.2f}" for name, used in cpu.items())
    )
    print(_switch_line(intake_switches, accepted, accepted))
    backlog_size = counts(engine)[1]
    stack.restart_worker()
    first: tuple[float, int] | None = None
    deadline = None
    while True:
        _, unfinished, _ = counts(engine)
        now = time.monotonic()
        if first is None and unfinished < backlog_size:
            first = (now, unfinished)  # the first payment is done: the workers are up, start the clock
            deadline = now + args.drain_seconds
            for group in groups:
                group.mark()
        if unfinished == 0 or (deadline is not None and now > deadline) or now - began > 120 + args.seconds:
            break
        time.sleep(0.25)
    if first is None:
        print("  the workers finished nothing of the backlog")
        return accepted / elapsed, 0.0
    took = time.monotonic() - first[0]
    done = first[1] - counts(engine)[1]
    used = {g.name: g.used() for g in groups if g.name not in ("api", "wrk")}
    drain_switches = {g.name: g.switches() for g in groups if g.name not in ("api", "wrk")}
    print(f"\n-- workers draining a backlog of {backlog_size:,} payments ({args.processes} processes)")
    print(f"  completed {done / took:,.0f}/s ({done:,} in {took:.1f} s)")
    print(
        "  CPU ms per completed payment: "
        + ", ".join(f"{name} {value * 1000 / max(done, 1):.2f}" for name, value in used.items())
    )
    print("  cores busy: " + ", ".join(f"{name} {value / took:.2f}" for name, value in used.items()))
    print(_switch_line(drain_switches, done, done))
    return accepted / elapsed, done / took


def warm_up(
    args: argparse.Namespace, stack: Stack, engine: sqlalchemy.Engine, creds: dict[str, str], tmp: Path
) -> None:
    """A few seconds of load, not measured, then a drained backlog: pools, caches and every worker
    process warm before the first measured phase (as ``bench intake`` warms up)."""
    requests = tmp / "warm-up.tsv"
    write_requests(requests, creds["clientId"], creds["secret"], count=2000)
    run_wrk(stack.api_url, requests, argparse.Namespace(**{**vars(args), "seconds": 3}), None)
    deadline = time.monotonic() + args.drain_seconds
    while time.monotonic() < deadline and counts(engine)[1:] != (0, 0):
        time.sleep(0.5)


def reference_lifecycle(clients: int, seconds: int, db_url: str) -> float:
    script = shared_dir() / "bench" / "reference-payment-lifecycle.sh"
    plain = db_url.replace("postgresql+psycopg://", "postgresql://")
    out = subprocess.run(
        ["bash", str(script), str(clients), str(seconds), plain], capture_output=True, text=True, check=True
    ).stdout
    match = re.search(r"reference payment lifecycle: (\d+) lifecycles/s", out)
    if not match:
        sys.exit(f"reference lifecycle benchmark printed nothing usable: {out!r}")
    return float(match.group(1))


def _cli(env: dict[str, str], *args: str) -> str:
    return subprocess.run([str(BIN / "flosspay"), *args], env=env, check=True, capture_output=True, text=True).stdout


def _cleanup_broker(args: argparse.Namespace, namespace: str) -> None:
    import redis

    client = redis.Redis.from_url(REDIS_URL)
    try:
        keys = list(client.scan_iter(match=f"{namespace}:*", count=1000))
        if keys:
            client.delete(*keys)
    finally:
        client.close()
    if args.broker == "rabbitmq":
        import pika

        connection = pika.BlockingConnection(pika.URLParameters(RABBITMQ_URL))
        try:
            channel = connection.channel()
            for suffix in ("", ".DQ", ".XQ"):
                channel.queue_delete(f"{namespace}.payments{suffix}")
        finally:
            connection.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=int, default=15, help="length of each load phase (default 15)")
    parser.add_argument(
        "--rate", type=float, help="offered payments/s of the fixed-rate phase (default 0.5 x lifecycle)"
    )
    parser.add_argument("--processes", type=int, default=os.cpu_count() or 1, help="worker processes (default: cores)")
    parser.add_argument("--threads", type=int, help="threads per worker process (default FLOSSPAY_WORKER_THREADS or 8)")
    parser.add_argument("--broker", choices=["redis", "rabbitmq"], default="redis")
    parser.add_argument(
        "--worker-nice", type=int, default=0, help="FLOSSPAY_WORKER_NICE for the workers (the API keeps the CPU first)"
    )
    parser.add_argument("--api-workers", type=int, default=2)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--wrk-threads", type=int, default=1)
    parser.add_argument("--drain-seconds", type=float, default=20.0, help="longest wait for a backlog to drain")
    parser.add_argument("--reference-seconds", type=int, default=5, help="length of each pgbench reference run")
    parser.add_argument("--reference-clients", type=int, default=16)
    parser.add_argument("--skip-saturation", action="store_true")
    parser.add_argument(
        "--env",
        action="append",
        default=[],
        metavar="FLOSSPAY_KEY=VALUE",
        help="a setting for the API and worker processes (repeatable), e.g. FLOSSPAY_RELAY_CHAIN_INTERVAL_SECONDS=0.5",
    )
    parser.add_argument("--skip-backlog", action="store_true", help="skip the intake-alone and backlog-drain phases")
    args = parser.parse_args()
    for tool in ("wrk", "pgbench"):
        if not shutil.which(tool):
            sys.exit(f"{tool} is not installed (apt-get install {'wrk' if tool == 'wrk' else 'postgresql-client'})")
    db_url = make_database()
    engine = sqlalchemy.create_engine(db_url, pool_size=2)
    tmp = Path(tempfile.mkdtemp(prefix="flosspay-e2e-"))
    namespace = f"flosspay-e2e-{uuid.uuid4().hex[:8]}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("FLOSSPAY_")}
    env.update(
        FLOSSPAY_DATABASE_URL=db_url,
        FLOSSPAY_DATA_DIR=str(tmp / "data"),
        FLOSSPAY_RAILS="upi",
        FLOSSPAY_LOG_LEVEL="WARNING",
        FLOSSPAY_REDIS_URL=REDIS_URL,
        FLOSSPAY_QUEUE_NAMESPACE=namespace,
    )
    if args.broker == "rabbitmq":
        env["FLOSSPAY_BROKER_URL"] = RABBITMQ_URL
    for setting in args.env:
        key, _, value = setting.partition("=")
        env[key] = value
    stack: Stack | None = None
    try:
        print(
            f"e2e benchmark: {os.cpu_count()} cores, {args.api_workers} API processes, {args.processes} worker "
            f"processes{f' (nice {args.worker_nice})' if args.worker_nice else ''}, broker {args.broker}, "
            f"{args.seconds} s per phase",
            flush=True,
        )
        write_ref = reference_tps(args.reference_clients, args.reference_seconds, db_url)
        life_ref = reference_lifecycle(args.reference_clients, args.reference_seconds, db_url)
        print(f"reference payment write (pgbench, {args.reference_clients} clients): {write_ref:,.0f} tps")
        print(f"reference payment lifecycle (pgbench, {args.reference_clients} clients): {life_ref:,.0f} lifecycles/s")
        _cli(env, "db", "upgrade")
        creds = json.loads(
            _cli(env, "clients", "create", "bench", "--json", "--rate", "1000000", "--burst", "10000000")
        )
        stack = start_stack(args, env, tmp)
        api_pid, psp_pid = stack.procs["api"].pid, stack.procs["psp"].pid
        running = stack
        groups = [
            Group("api", lambda: descendants([api_pid])),
            Group("worker", lambda: descendants([running.procs["worker"].pid])),
            Group("postgres", postgres_backends(engine)),
            Group("redis", lambda: redis_pid(REDIS_URL)),
            Group("psp", lambda: descendants([psp_pid])),
        ]
        if args.broker == "rabbitmq":
            groups.insert(4, Group("rabbitmq", lambda: by_name("beam.smp")))
        time.sleep(3)  # let the worker processes finish starting
        warm_up(args, stack, engine, creds, tmp)
        rate = args.rate or 0.5 * life_ref
        phases = [phase("fixed-rate", args, stack, engine, creds, groups, tmp, rate)]
        if not args.skip_saturation:
            phases.append(phase("saturation", args, stack, engine, creds, groups, tmp, None))
        if not args.skip_backlog:
            intake, drain = intake_then_drain(args, stack, engine, creds, groups, tmp)
        print("\n== summary (measured on a shared 2-core machine; ratios are what count)")
        for p in phases:
            print(
                f"  {p.label}: accepted {p.accepted_per_s:,.0f}/s ({p.accepted_per_s / write_ref:.2f} of the reference "
                f"write), completed {p.completed_per_s:,.0f}/s ({p.completed_per_s / life_ref:.2f} of the reference "
                f"lifecycle; goal >= 0.50; {p.overall_per_s:,.0f}/s over load and drain), "
                f"p99 {p.p99_ms:.1f} ms (goal < 50), "
                f"backlog {'drained' if p.drained_in_s is not None else f'NOT drained ({p.left} left)'}; "
                f"worker CPU {p.cpu_ms['worker']:.2f} ms and PostgreSQL CPU {p.cpu_ms['postgres']:.2f} ms per "
                "completed payment (goal <= 1 each)"
            )
        if not args.skip_backlog:
            print(
                f"  intake alone: {intake:,.0f} accepted/s ({intake / write_ref:.2f} of the reference write; "
                f"goal >= 0.30); workers draining a backlog: {drain:,.0f} completed/s "
                f"({drain / life_ref:.2f} of the reference lifecycle)"
            )
        return 0
    finally:
        if stack is not None:
            stack.stop()
        engine.dispose()
        drop_database(db_url)
        _cleanup_broker(args, namespace)
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
