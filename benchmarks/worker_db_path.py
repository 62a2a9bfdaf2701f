"""Benchmark: CPU of the worker's database path per payment (the claim and the completion), A/B in one run.

Runs ``process_payment`` with the real unit of work, repositories, clock and policy on PostgreSQL, the rail
stubbed to answer COMPLETED at once, on one thread: one process per variant, each on its own fresh database
(migrated by its own ``flosspay/``) filled with ``--payments`` payments through ``accept_payment``, the
variants driven alternately in chunks of ``--chunk`` payments. Each chunk reports the process's thread CPU
and its PostgreSQL backends' CPU (from /proc) per payment. Without the rail's HTTP, Dramatiq and the relay
this resolves changes of a few % that ``bench drain`` cannot on a shared machine (ADR 0025); quote the
median of the per-chunk ratios to the first variant, taken in the same round. /proc counts CPU in 10 ms
ticks, so a chunk's PostgreSQL figure moves in steps of 10 ms / ``--chunk``: its ratio of means is the finer one.

    python3 scripts/dev.py bench dbpath [--payments 4000] [--chunk 100] [--baseline REV[,REV…]]

``--baseline REV[,REV…]`` adds variants running ``flosspay/`` as of each git REV (the first is the one the
ratios are to); "this tree" runs from the editable install, so to compare like with like give the branch's
own commit as a REV too (``--baseline 8379f16,HEAD``). Needs PostgreSQL (FLOSSPAY_BENCH_DATABASE_URL,
default the local server); drops the databases it creates.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

WARMUP = 50  # payments each variant processes before the first chunk (caches, prepared statements)


def child(source: str, payments: int) -> int:
    """One variant: fill, warm up, then process the chunk sizes read from stdin, one line of figures each."""
    if source:
        finder = "__editable___flosspay_0_1_0_finder"  # the editable install would win over sys.path
        sys.meta_path[:] = [f for f in sys.meta_path if finder not in (getattr(f, "__module__", "") + repr(f))]
        sys.path.insert(0, source)
    import flosspay

    if source and not str(flosspay.__file__).startswith(source):
        sys.exit(f"imported {flosspay.__file__}, not the copy in {source}")
    from worker_drain import Backends, fill

    from flosspay.adapters.config import load_settings
    from flosspay.adapters.container import Container
    from flosspay.application.policies import ProcessingPolicy
    from flosspay.application.process import process_payment
    from flosspay.domain.rail import Outcome, RailResult

    class Rail:
        def execute(self, request: object) -> RailResult:
            return RailResult(Outcome.COMPLETED, "00", "approved")

        status = execute

    class Rails:
        def get(self, name: str) -> Rail:
            return Rail()

    env = dict(os.environ)
    fill(env, env["FLOSSPAY_BENCH_CLIENT_ID"], payments + WARMUP)
    container = Container(settings=load_settings(env))
    work: dict[str, Any] = {
        "worker": "dbpath",
        "uow_factory": container.uow_factory(),
        "rails": Rails(),
        "clock": container.clock(),
        "policy": ProcessingPolicy(),
    }
    backends = Backends(env["FLOSSPAY_DATABASE_URL"], application_name="flosspay")
    sql = "SELECT id FROM payments WHERE status IN ('REQUESTED', 'QUEUED') ORDER BY created_at"
    ids = [row[0] for row in backends.conn.exec_driver_sql(sql)]
    if len(ids) != payments + WARMUP:
        sys.exit(f"found {len(ids)} payments to process, filled {payments + WARMUP}")
    for payment_id in ids[:WARMUP]:
        process_payment(payment_id, **work)
    print("ready", flush=True)
    position = WARMUP
    for line in sys.stdin:
        chunk = ids[position : position + int(line)]
        position += len(chunk)
        backends.mark()
        start = time.thread_time()
        for payment_id in chunk:
            result = process_payment(payment_id, **work)
            assert result.disposition.value == "DONE", result
        worker = time.thread_time() - start
        postgres = backends.since_first()
        print(f"{worker / len(chunk) * 1e6:.1f} {postgres / len(chunk) * 1e6:.1f}", flush=True)
    backends.close()
    container.engine().dispose()
    return 0


def _start(label: str, source: Path | None, tmp: Path, payments: int, databases: list[str]) -> subprocess.Popen[str]:
    """A fresh database migrated and given a client by the variant's own CLI, and its process, ready."""
    from intake import BIN, make_database
    from worker_drain import _LAUNCH_FROM

    db_url = make_database()
    databases.append(db_url)
    data = tmp / ("data-" + label.replace(" ", "-"))
    data.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith("FLOSSPAY_")}
    env.update(
        FLOSSPAY_DATABASE_URL=db_url,
        FLOSSPAY_DATA_DIR=str(data),
        FLOSSPAY_RAILS="upi",
        FLOSSPAY_LOG_LEVEL="WARNING",
        FLOSSPAY_UPI_PSP_URL="http://127.0.0.1:9",  # never called: the rail is stubbed
        FLOSSPAY_REDIS_URL=os.environ.get("FLOSSPAY_BENCH_REDIS_URL", "redis://127.0.0.1:6379/15"),
    )
    cli = [str(BIN / "flosspay")] if source is None else [sys.executable, "-c", _LAUNCH_FROM, str(source)]
    subprocess.run([*cli, "db", "upgrade"], env=env, check=True, capture_output=True)
    created = subprocess.run([*cli, "clients", "create", "dbpath", "--json"], env=env, check=True, capture_output=True)
    env["FLOSSPAY_BENCH_CLIENT_ID"] = json.loads(created.stdout)["clientId"]
    command = [sys.executable, __file__, "--child", str(source or ""), "--payments", str(payments)]
    return subprocess.Popen(command, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)


def _ask(process: subprocess.Popen[str], line: str | None) -> str:
    stdin, stdout = process.stdin, process.stdout
    assert stdin is not None and stdout is not None
    if line is not None:
        stdin.write(line + "\n")
        stdin.flush()
    answer = stdout.readline()
    if not answer:
        sys.exit(f"a variant's process exited (status {process.wait()})")
    return answer


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--payments", type=int, default=4000, help="measured payments per variant")
    parser.add_argument("--chunk", type=int, default=100, help="payments per chunk (variants alternate by chunk)")
    parser.add_argument("--baseline", metavar="REV[,REV…]", help="also run flosspay/ as of these git revisions")
    parser.add_argument("--child", metavar="SOURCE", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child is not None:
        return child(args.child, args.payments)
    from intake import drop_database
    from worker_drain import _machine_busy, export_revision

    rounds = args.payments // args.chunk
    if rounds < 1:
        parser.error("--payments must be at least --chunk")
    tmp = Path(tempfile.mkdtemp(prefix="flosspay-dbpath-"))
    variants: list[tuple[str, Path | None]] = [
        (f"at {rev}", export_revision(rev, tmp / f"at-{rev}")) for rev in (args.baseline or "").split(",") if rev
    ]
    variants.append(("this tree", None))
    databases: list[str] = []
    processes: dict[str, subprocess.Popen[str]] = {}
    try:
        for label, source in variants:
            processes[label] = _start(label, source, tmp, rounds * args.chunk, databases)
        for process in processes.values():
            _ask(process, None)  # "ready": filled and warm
        worker: dict[str, list[float]] = {label: [] for label in processes}
        postgres: dict[str, list[float]] = {label: [] for label in processes}
        load0, busy0 = os.getloadavg()[0], _machine_busy()
        for round_ in range(rounds):
            order = list(processes.items())
            for label, process in order if round_ % 2 == 0 else reversed(order):  # neither always goes first
                w, pg = _ask(process, str(args.chunk)).split()
                worker[label].append(float(w))
                postgres[label].append(float(pg))
        busy1, load1 = _machine_busy(), os.getloadavg()[0]
        for process in processes.values():
            assert process.stdin is not None
            process.stdin.close()
            process.wait(60)
    finally:
        for process in processes.values():
            if process.poll() is None:
                process.terminate()
                process.wait(30)
        for url in databases:
            drop_database(url)
        shutil.rmtree(tmp, ignore_errors=True)
    busy = (busy1[0] - busy0[0]) / max(1, busy1[1] - busy0[1])
    print(
        f"worker's database path (claim + completion, rail stubbed, one thread): {rounds} chunks of {args.chunk} "
        f"payments per variant, interleaved; machine busy {busy:.0%}, load average {load0:.1f} → {load1:.1f}"
    )
    first = variants[0][0]
    mean_w, mean_pg = statistics.mean(worker[first]), statistics.mean(postgres[first])
    for label in processes:
        w, pg = worker[label], postgres[label]
        ratio_w = statistics.median([b / a for a, b in zip(worker[first], w, strict=True)])
        ratio_pg = statistics.median([b / a for a, b in zip(postgres[first], pg, strict=True)])
        print(
            f"{label}: worker CPU µs/payment median {statistics.median(w):,.0f}, mean {statistics.mean(w):,.0f}, "
            f"min {min(w):,.0f}; PostgreSQL backend µs/payment median {statistics.median(pg):,.0f}, "
            f"mean {statistics.mean(pg):,.0f}\n  ÷ {first}: median of per-chunk ratios worker {ratio_w:.3f}, "
            f"PostgreSQL {ratio_pg:.3f}; ratio of means worker {statistics.mean(w) / mean_w:.3f}, "
            f"PostgreSQL {statistics.mean(pg) / mean_pg:.3f}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
