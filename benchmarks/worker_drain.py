"""Benchmark: how fast one ``flosspay worker`` drains a backlog of accepted payments, and what each costs.

Fills a fresh PostgreSQL database with ``--payments`` accepted UPI payments through the real intake use
case (``accept_payment``, one transaction each, outbox message included), then starts the UPI sandbox
PSP and one real ``flosspay worker`` (Redis broker) and times it until every payment is COMPLETED.
Prints completed/s, CPU milliseconds per completed payment of the worker process, of the PostgreSQL
backends serving this database (from /proc), and of the sandbox PSP (with its share of the three), and
the ratio of completed/s to the reference durable lifecycle (shared/bench/reference-payment-lifecycle.sh)
measured in the same invocation.

    python3 scripts/dev.py bench drain [--payments 3000] [--threads 8] [--py-spy FILE [--gil]] [--repeat 1]
                                       [--baseline REV[,REV...]]

``--baseline REV[,REV…]`` alternates each run with ones whose worker runs ``flosspay/`` as of each git REV, so a change
is measured against what it replaced under the same load. Each variant's database is migrated by its own ``flosspay/``,
so a schema change is compared with the schema it replaced. ``--py-spy FILE`` records the worker with
``py-spy record`` (flame graph SVG, or ``.txt`` for collapsed stacks) while it drains. The clock starts at
the first completed payment (the worker is warm and the relay is running): start-up is not counted.
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
from collections.abc import Callable
from pathlib import Path

import sqlalchemy
from intake import BIN, ROOT, drop_database, make_database, shared_dir

if "FLOSSPAY_SHARED_DIR" not in os.environ and (ROOT.parent.parent / "shared" / "bench").is_dir():
    os.environ["FLOSSPAY_SHARED_DIR"] = str(ROOT.parent.parent / "shared")  # a worktree beside /work/shared
TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """utime + stime of ``pid`` (all its threads), 0 when it is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (FileNotFoundError, ProcessLookupError):
        return 0.0
    return (int(fields[11]) + int(fields[12])) / TICKS


def tree_cpu_seconds(pid: int) -> float:
    """CPU of ``pid`` and its child processes (``flosspay worker --processes N`` supervises N children)."""
    children: list[int] = []
    for task in Path(f"/proc/{pid}/task").glob("*/children") if Path(f"/proc/{pid}").exists() else []:
        children += [int(c) for c in task.read_text().split()]
    return cpu_seconds(pid) + sum(tree_cpu_seconds(c) for c in children)


def reference_lifecycles(clients: int, seconds: int, db_url: str) -> tuple[float, float]:
    """Lifecycles/s of the pgbench reference, and its PostgreSQL backends' CPU ms per lifecycle.

    The CPU is sampled from /proc as for FlossPay's backends (``Backends``), so the two compare: the
    reference's statements look ~20x cheaper in pg_stat_statements, which leaves out their parse, plan,
    protocol and commit work.
    """
    script = shared_dir() / "bench" / "reference-payment-lifecycle.sh"
    run = subprocess.Popen(
        ["bash", str(script), str(clients), str(seconds), db_url.replace("postgresql+psycopg://", "postgresql://")],
        stdout=subprocess.PIPE,
        text=True,
    )
    backends = Backends(db_url, application_name="pgbench")
    try:
        while run.poll() is None:
            backends.sample()
            time.sleep(0.2)
        cpu = backends.since_first()
    finally:
        backends.close()
    out = run.communicate()[0]
    match = re.search(r"reference payment lifecycle: (\d+) lifecycles/s", out)
    if run.returncode or not match:
        sys.exit(f"reference benchmark printed nothing usable: {out!r}")
    rate = float(match.group(1))
    return rate, cpu / (rate * seconds) * 1000


def fill(env: dict[str, str], client_id: str, count: int) -> float:
    """Accept ``count`` payments through the intake use case; returns accepted/s (one thread)."""
    from flosspay.adapters.config import load_settings
    from flosspay.adapters.container import Container
    from flosspay.adapters.http.payments import HTTP_INTAKE
    from flosspay.application.accept_payment import PaymentIntent, accept_payment
    from flosspay.domain.payment import Flow

    settings = load_settings(env)
    container = Container(settings=settings)
    uow_factory, rails, clock = container.uow_factory(), container.rails(), container.clock()
    policy = settings.intake
    start = time.perf_counter()
    for i in range(count):
        intent = PaymentIntent(
            client_id=client_id,
            idempotency_key=f"drain-{uuid.uuid4().hex}",
            fingerprint=f"fp-{i}",
            method="UPI",
            flow=Flow.PAY,
            amount=1 + i % 5000,
            currency="INR",
            fields={"senderUpi": f"payer{i % 997}@upi", "receiverUpi": "shop@upi"},
            note="drain",
        )
        accepted = accept_payment(
            intent, uow_factory=uow_factory, rails=rails, clock=clock, policy=policy, **HTTP_INTAKE
        )
        assert not accepted.replayed
    elapsed = time.perf_counter() - start
    container.engine().dispose()
    return count / elapsed


class Backends:
    """CPU of the PostgreSQL backends connected to one database (this script's own excluded)."""

    def __init__(self, db_url: str, application_name: str | None = None) -> None:
        self.application_name = application_name
        self.engine = sqlalchemy.create_engine(db_url, pool_size=1)
        self.conn = self.engine.connect().execution_options(isolation_level="AUTOCOMMIT")
        self.seen: dict[int, float] = {}
        self.first: dict[int, float] = {}

    def pids(self) -> list[int]:
        sql = "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()"
        if self.application_name is None:
            rows = self.conn.exec_driver_sql(sql)
        else:
            rows = self.conn.exec_driver_sql(sql + " AND application_name = %(name)s", {"name": self.application_name})
        return [int(r[0]) for r in rows]

    def sample(self) -> None:
        for pid in self.pids():
            now = cpu_seconds(pid)
            self.first.setdefault(pid, now)
            self.seen[pid] = max(self.seen.get(pid, 0.0), now)

    def since_first(self) -> float:
        """CPU used since each backend was first sampled (a backend that started later counts whole)."""
        self.sample()
        return sum(self.seen[pid] - self.first[pid] for pid in self.seen)

    def mark(self) -> None:
        self.seen.clear()
        self.first.clear()
        self.sample()

    def completed(self) -> int:
        return int(self.conn.exec_driver_sql("SELECT count(*) FROM payments WHERE status = 'COMPLETED'").scalar_one())

    def close(self) -> None:
        self.conn.close()
        self.engine.dispose()


def wait_for(check: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            sys.exit(f"timed out waiting for {what}")
        time.sleep(0.05)


_LAUNCH_FROM = """
import sys
finder = "__editable___flosspay_0_1_0_finder"  # the editable install would win over sys.path
sys.meta_path[:] = [f for f in sys.meta_path if finder not in (getattr(f, "__module__", "") + repr(f))]
sys.path.insert(0, sys.argv.pop(1))
from flosspay.adapters.cli.main import main
sys.exit(main(sys.argv[1:]))
"""


def export_revision(revision: str, into: Path) -> Path:
    """``flosspay/`` as it was at ``revision`` (the rails stay the working tree's), for an A/B run."""
    into.mkdir(parents=True, exist_ok=True)
    archive = subprocess.run(["git", "archive", revision, "flosspay"], cwd=ROOT, capture_output=True, check=True)
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive.stdout, check=True)
    return into


def drain(
    args: argparse.Namespace, env: dict[str, str], db_url: str, sandbox_pid: int, source: Path | None = None
) -> dict[str, float]:
    """One worker drains the backlog already in ``db_url``; figures of the steady part.

    ``source``: run the worker from this copy of ``flosspay/`` instead of the installed one.
    """
    backends = Backends(db_url)
    cmd = [str(BIN / "flosspay"), "worker", "--threads", str(args.threads), "--processes", str(args.processes)]
    if source is not None:
        cmd = [sys.executable, "-c", _LAUNCH_FROM, str(source), *cmd[1:]]
    worker = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    spy = None
    try:
        wait_for(lambda: backends.completed() > 0 or worker.poll() is not None, 60, "the first completed payment")
        if worker.poll() is not None:
            sys.exit(f"the worker exited: {worker.stderr.read() if worker.stderr else ''}")
        if args.py_spy:
            fmt = ["--format", "raw"] if args.py_spy.endswith(".txt") else []
            fmt += ["--gil"] if args.gil else []
            fmt += ["--output", args.py_spy, "--rate", "200"]
            spy = subprocess.Popen(
                [str(BIN / "py-spy"), "record", "--subprocesses", "--pid", str(worker.pid), *fmt],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
        t0, done0 = time.perf_counter(), backends.completed()
        backends.mark()
        w0, s0 = tree_cpu_seconds(worker.pid), cpu_seconds(sandbox_pid)
        busy0 = _machine_busy()
        target = args.payments
        last = done0
        while last < target:
            time.sleep(0.2)
            backends.sample()
            last = backends.completed()
            if worker.poll() is not None:
                sys.exit("the worker exited while draining")
            if time.perf_counter() - t0 > 600:
                sys.exit(f"not drained after 600 s ({last}/{target})")
        t1 = time.perf_counter()
        w1, s1 = tree_cpu_seconds(worker.pid), cpu_seconds(sandbox_pid)
        pg = backends.since_first()
        busy1 = _machine_busy()
    finally:
        if spy is not None:
            spy.send_signal(2)
            spy.wait(30)
        worker.terminate()
        worker.wait(30)
        backends.close()
    n = target - done0
    return {
        "completed_per_s": n / (t1 - t0),
        "worker_ms": (w1 - w0) / n * 1000,
        "pg_ms": pg / n * 1000,
        "psp_ms": (s1 - s0) / n * 1000,
        "machine_busy": (busy1[0] - busy0[0]) / max(1e-9, busy1[1] - busy0[1]),
        "measured": n,
    }


def _machine_busy() -> tuple[float, float]:
    """(busy, total) jiffies of the whole machine: how contended the run was."""
    values = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = values[3] + values[4]
    return sum(values) - idle, sum(values)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--payments", type=int, default=3000)
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument("--processes", type=int, default=1, help="worker processes (flosspay worker --processes)")
    parser.add_argument("--repeat", type=int, default=1, help="fill and drain this many times, report each")
    parser.add_argument("--reference-seconds", type=int, default=5)
    parser.add_argument("--reference-clients", type=int, default=8)
    parser.add_argument("--py-spy", help="record the worker with py-spy into this file (.svg, or .txt collapsed)")
    parser.add_argument("--gil", action="store_true", help="with --py-spy: sample only the thread holding the GIL")
    parser.add_argument(
        "--baseline",
        metavar="REV[,REV…]",
        help="alternate each run with workers running flosspay/ as of these git revisions (A/B)",
    )
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="flosspay-drain-"))
    namespace = f"flosspay-drain-{uuid.uuid4().hex[:8]}"
    redis_url = os.environ.get("FLOSSPAY_BENCH_REDIS_URL", "redis://127.0.0.1:6379/15")
    env = {k: v for k, v in os.environ.items() if not k.startswith("FLOSSPAY_")}
    env.update(
        FLOSSPAY_DATA_DIR=str(tmp),
        FLOSSPAY_RAILS="upi",
        FLOSSPAY_LOG_LEVEL="WARNING",
        FLOSSPAY_REDIS_URL=redis_url,
        FLOSSPAY_QUEUE_NAMESPACE=namespace,
        FLOSSPAY_UPI_TIMEOUT="10",
    )
    sandbox = subprocess.Popen(
        [sys.executable, "-m", "flosspay_upi.sandbox", "--port", "0"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    assert sandbox.stdout is not None
    env["FLOSSPAY_UPI_PSP_URL"] = sandbox.stdout.readline().strip()
    databases: list[str] = []
    try:
        ref_db = make_database()
        databases.append(ref_db)
        ref, ref_pg_ms = reference_lifecycles(args.reference_clients, args.reference_seconds, ref_db)
        print(
            f"reference payment lifecycle (pgbench, {args.reference_clients} clients): {ref:,.0f}/s, "
            f"PostgreSQL backends {ref_pg_ms:.2f} ms CPU per lifecycle (accept, claim and complete)",
            flush=True,
        )
        variants: list[tuple[str, Path | None]] = [("this tree", None)]
        for revision in reversed(args.baseline.split(",") if args.baseline else []):
            variants.insert(0, (f"at {revision}", export_revision(revision, tmp / f"at-{revision}")))
        results: dict[str, list[dict[str, float]]] = {label: [] for label, _ in variants}
        for run in range(args.repeat):
            for label, source in variants:
                db_url = make_database()
                databases.append(db_url)
                env["FLOSSPAY_DATABASE_URL"] = db_url
                # The schema too is the variant's own: a baseline's worker runs on the migrations it shipped.
                cli = [str(BIN / "flosspay")] if source is None else [sys.executable, "-c", _LAUNCH_FROM, str(source)]
                subprocess.run([*cli, "db", "upgrade"], env=env, check=True, capture_output=True)
                creds = json.loads(
                    subprocess.run(
                        [*cli, "clients", "create", "drain", "--json"],
                        env=env,
                        check=True,
                        capture_output=True,
                        text=True,
                    ).stdout
                )
                accepted = fill(env, creds["clientId"], args.payments)
                figures = drain(args, env, db_url, sandbox.pid, source)
                results[label].append(figures)
                _print_run(f"run {run + 1}, {label}", args, accepted, figures, ref)
                drop_database(db_url)
                databases.remove(db_url)
        if args.repeat > 1 or len(variants) > 1:
            for label, runs in results.items():
                mean = {k: sum(r[k] for r in runs) / len(runs) for k in runs[0]}
                _print_run(f"mean of {len(runs)}, {label}", args, None, mean, ref)
    finally:
        sandbox.terminate()
        sandbox.wait(10)
        for url in databases:
            drop_database(url)
        _flush_namespace(redis_url, namespace)
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


def _print_run(
    label: str, args: argparse.Namespace, accepted: float | None, figures: dict[str, float], ref: float
) -> None:
    total = figures["worker_ms"] + figures["pg_ms"] + figures["psp_ms"]
    filled = f"filled {args.payments} ({accepted:,.0f} accepted/s, one thread); " if accepted is not None else ""
    print(
        f"{label}: {filled}one worker ({args.threads} threads) drained {figures['measured']:.0f}: "
        f"{figures['completed_per_s']:,.0f} completed/s, ratio to reference {figures['completed_per_s'] / ref:.3f}",
        flush=True,
    )
    print(
        f"  CPU per completed payment: worker {figures['worker_ms']:.2f} ms, PostgreSQL backends "
        f"{figures['pg_ms']:.2f} ms, sandbox PSP {figures['psp_ms']:.2f} ms "
        f"(PSP share {figures['psp_ms'] / total:.1%}); machine busy {figures['machine_busy']:.0%}",
        flush=True,
    )


def _flush_namespace(redis_url: str, namespace: str) -> None:
    import redis

    client = redis.Redis.from_url(redis_url)
    keys = list(client.scan_iter(f"{namespace}*"))
    if keys:
        client.delete(*keys)
    client.close()


if __name__ == "__main__":
    sys.exit(main())
