"""Ledger benchmark: append N journal entries on PostgreSQL, chain them, export, verify offline.

    .venv/bin/python benchmarks/ledger.py [--entries 20000] [--threads 4] [--server URL]
    .venv/bin/python benchmarks/ledger.py --synthetic 10000000 big.jsonl   # a valid export, no database
    .venv/bin/python benchmarks/ledger.py --memory big.jsonl [--jobs 2] [--memory-items N]  # records/s, peak RSS

Creates a scratch database on the server (dropped afterwards), fills it with N completed payments
(3 history rows each, one payment per transaction unless --per-transaction; not timed), then times:

- post:   N payment entries, one transaction each (as on the payment path), from --threads threads;
- chain:  the chainer linking every record (3N history rows + N entries) into the hash chain, with the
          CPU this process spent per record (what the chainer costs a worker's relay thread), and
          then a pass with nothing to chain (what an idle relay loop pays for it);
- export: the chain to a JSON Lines file; verify: that file offline (``flosspay.ledger_verify``), in a
  fresh interpreter as an auditor would, with one process and with two;
- raw:    ``hashlib.sha256`` over the same records, chained, in one tight loop (the ceiling).

Offline verification is reported as a ratio to raw hashing of the same bytes (no target beyond not
regressing: 0.15 at 2 jobs before issue 16, see ADR 0005 and ADR 0011).
A benchmark, not a test: it prints figures (and checks only that what it verifies is what it hashed).
"""

from __future__ import annotations

import argparse
import hashlib
import os
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import sqlalchemy
from sqlalchemy.engine import make_url
from sqlalchemy.pool import NullPool

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from flosspay import ledger_verify
from flosspay.adapters.persistence.engine import create_engine
from flosspay.adapters.persistence.migrate import upgrade
from flosspay.adapters.persistence.unit_of_work import SqlUnitOfWorkFactory
from flosspay.application.ledger_audit import export_lines
from flosspay.application.ledger_chain import ChainPolicy, chain_all, chain_pending
from flosspay.domain.chain import GENESIS
from flosspay.domain.ledger import completed_payment_entry
from flosspay.domain.money import Money
from flosspay.domain.payment import Flow, Payment

DEFAULT_SERVER = os.environ.get("FLOSSPAY_TEST_DATABASE_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")


class Clock:
    def now(self) -> datetime:
        return datetime.now(UTC)


def completed_payments(count: int) -> list[Payment]:
    start = datetime(2026, 1, 1, tzinfo=UTC)
    made = []
    for number in range(count):
        at = start + timedelta(milliseconds=number)
        payment = Payment.accept(
            id=uuid.uuid4(),
            client_id="cl_bench",
            flow=Flow.PAY,
            method="UPI",
            rail="upi",
            amount=Money(100 + number % 9000, "INR"),
            details={"senderUpi": f"payer{number % 997}@upi", "receiverUpi": f"shop{number % 89}@okaxis"},
            public={},
            note=None,
            now=at,
        )
        payment.claim("bench", at, at + timedelta(seconds=30))
        payment.complete(at, "rail confirmed (00)", 1)
        made.append(payment)
    return made


def rate(count: int, seconds: float) -> str:
    return f"{count / seconds:>12,.0f}/s  ({count:,} in {seconds:.2f} s)"


def time_offline(path: Path) -> int:
    """Verify an export and time raw SHA-256 over the same records, in this (fresh) process."""
    lines = path.read_bytes().splitlines(keepends=True)
    canonical = [line[84:-2] for line in lines if line.startswith(b'{"hash":"')]
    del lines
    records = len(canonical)
    size = sum(len(r) for r in canonical)
    sha256 = hashlib.sha256
    best = float("inf")
    for _ in range(5):
        began = time.perf_counter()
        digest = GENESIS
        for record in canonical:
            digest = sha256(digest + record).digest()
        best = min(best, time.perf_counter() - began)
    seconds: dict[int, float] = {}
    for jobs in (1, 2):
        seconds[jobs] = float("inf")
        for _ in range(3):
            began = time.perf_counter()
            report = ledger_verify.verify_file(path, jobs=jobs)
            seconds[jobs] = min(seconds[jobs], time.perf_counter() - began)
            assert report.ok and report.head_hash == digest, "the raw loop hashes exactly what was chained"
    # The two halves that --jobs 2 runs side by side, each alone in this process (ADR 0005).
    halves: dict[str, float] = {}
    parts = (("chain checks only (hashes, seq, framing)", True), ("ledger rules only (balances, paths)", False))
    for name, links in parts:
        halves[name] = float("inf")
        for _ in range(3):
            began = time.perf_counter()
            report = ledger_verify._verify_half(str(path), links=links, rules=not links)
            halves[name] = min(halves[name], time.perf_counter() - began)
            assert report.ok
    print(f"  raw hashlib.sha256, same {size / records:.0f}-byte records: {rate(records, best)}")
    for jobs, taken in seconds.items():
        print(f"  offline verify, {jobs} process(es):              {rate(records, taken)}")
    for name, taken in halves.items():
        print(f"    {name + ':':<44} {rate(records, taken)}  ({best / taken:.2f} of raw)")
    for jobs, taken in seconds.items():
        print(f"  offline verify / raw sha256, {jobs} process(es): {best / taken:.2f}")
    return 0


def write_synthetic(path: Path, records: int) -> int:
    """A valid export of about ``records`` records, written as the exporter would, without a database.

    Four payments in five complete (three history rows and their payment entry), one fails (three rows).
    """
    from flosspay.domain.chain import EntryFacts, HistoryFacts, end_line, header_line, link_hash, record_line
    from flosspay.domain.ledger import payment_entry_id

    start = datetime(2026, 1, 1, tzinfo=UTC)
    prev, seq, number = GENESIS, 0, 0
    with path.open("wb", buffering=1 << 20) as out:
        out.write(header_line(start))
        while seq < records:
            pid = uuid.UUID(int=uuid.uuid4().int)
            at = start + timedelta(milliseconds=number)
            amount = 100 + number % 9000
            fails = number % 5 == 4
            steps = [(None, "QUEUED", None), ("QUEUED", "PROCESSING", 1)]
            steps.append(("PROCESSING", "FAILED" if fails else "COMPLETED", 1))
            facts: list[HistoryFacts | EntryFacts] = [
                HistoryFacts(pid, i, a, b, attempt, at, "PAY", "INR", amount, "cl_bench", "upi", "rail said so")
                for i, (a, b, attempt) in enumerate(steps)
            ]
            if not fails:
                postings = (
                    (f"upi:vpa:payer{number % 997}@upi", "INR", -amount),
                    ("upi:clearing", "INR", amount),
                    ("upi:clearing", "INR", -amount),
                    (f"upi:vpa:shop{number % 89}@okaxis", "INR", amount),
                )
                facts.append(EntryFacts(payment_entry_id(pid), "payment", pid, None, at, postings, "UPI pay completed"))
            for item in facts:
                seq += 1
                record = item.record(seq)
                prev = link_hash(prev, record)
                out.write(record_line(seq, prev, record))
            number += 1
        out.write(end_line(seq, prev))
    return seq


def peak_rss(path: Path, jobs: int, memory_items: int | None = None) -> None:
    """Verify ``path`` in this fresh process and print the records/s and the peak resident memory."""
    import resource

    began = time.perf_counter()
    if memory_items is None:
        report = ledger_verify.verify_file(path, jobs=jobs)
    else:
        report = ledger_verify.verify_file(path, jobs=jobs, memory_items=memory_items)
    taken = time.perf_counter() - began
    assert report.ok, report.problems[:3]
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024
    print(
        f"  verify --jobs {jobs}: {rate(report.records, taken)}; peak RSS {peak / 2**20:,.0f} MiB"
        + (f" (child {children / 2**20:,.0f} MiB)" if jobs > 1 else "")
        + f", {peak / report.records:.1f} bytes a record"
        + (f" (--memory-items {memory_items:,})" if memory_items is not None else "")
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--synthetic", nargs=2, metavar=("RECORDS", "FILE"), help="write a valid export, no database")
    parser.add_argument("--memory", metavar="FILE", type=Path, help="verify FILE; print records/s and peak RSS")
    parser.add_argument("--jobs", type=int, default=1, help="with --memory: processes (1 or 2)")
    parser.add_argument("--memory-items", type=int, help="with --memory: items held in memory before moving to disk")
    parser.add_argument("--entries", type=int, default=20_000)
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--server", default=DEFAULT_SERVER, help="PostgreSQL server URL (a scratch DB is made)")
    parser.add_argument("--per-transaction", type=int, default=1, help="payments written per transaction (setup)")
    parser.add_argument("--db-prefix", default="flosspay_bench_", help="the scratch database's name starts so")
    parser.add_argument("--keep-export", metavar="FILE", help="keep a copy of the export here")
    parser.add_argument("--offline", metavar="FILE", type=Path, help="only time offline verification of FILE")
    args = parser.parse_args()
    if args.synthetic is not None:
        began = time.perf_counter()
        written = write_synthetic(Path(args.synthetic[1]), int(args.synthetic[0]))
        print(f"wrote {written:,} records to {args.synthetic[1]} in {time.perf_counter() - began:.0f} s")
        return 0
    if args.memory is not None:
        peak_rss(args.memory, args.jobs, args.memory_items)
        return 0
    if args.offline is not None:
        return time_offline(args.offline)

    admin = sqlalchemy.create_engine(make_url(args.server), isolation_level="AUTOCOMMIT", poolclass=NullPool)
    name = f"{args.db_prefix}{uuid.uuid4().hex[:12]}"
    with admin.connect() as connection:
        connection.exec_driver_sql(f"CREATE DATABASE {name}")
    url = make_url(args.server).set(database=name).render_as_string(hide_password=False)
    engine = create_engine(url, pool_size=args.threads + 2)
    try:
        upgrade(url)
        uow = SqlUnitOfWorkFactory(engine)
        clock = Clock()
        n = args.entries
        print(f"ledger benchmark: {n:,} entries on {make_url(url).render_as_string(hide_password=True)}")

        payments = completed_payments(n)
        # One payment per transaction, as the payment path commits them: the chainer orders records by
        # the writing transaction, so a thousand payments in one would be a case it never meets.
        for start in range(0, n, args.per_transaction):
            with uow() as tx:
                for payment in payments[start : start + args.per_transaction]:
                    tx.payments.add(payment)
                tx.commit()

        entries = [completed_payment_entry(p, clock.now()) for p in payments]
        del payments
        cursor = iter(entries)
        lock = threading.Lock()

        def post() -> None:
            while True:
                with lock:
                    entry = next(cursor, None)
                if entry is None:
                    return
                with uow() as tx:
                    tx.ledger.add(entry)
                    tx.commit()

        began = time.perf_counter()
        threads = [threading.Thread(target=post) for _ in range(args.threads)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        post_seconds = time.perf_counter() - began

        began, cpu = time.perf_counter(), time.process_time()
        records = chain_all(uow_factory=uow, clock=clock, policy=ChainPolicy(batch=1000, checkpoint_every=10_000))
        chain_seconds, chain_cpu = time.perf_counter() - began, time.process_time() - cpu

        # What a relay loop pays each turn when nothing is left to chain.
        idle_passes = 200
        began, cpu = time.perf_counter(), time.process_time()
        for _ in range(idle_passes):
            assert chain_pending(uow_factory=uow, clock=clock).chained == 0
        idle_seconds, idle_cpu = time.perf_counter() - began, time.process_time() - cpu

        with tempfile.TemporaryDirectory() as scratch:
            path = Path(scratch) / "ledger.jsonl"
            began = time.perf_counter()
            with path.open("wb") as handle:
                handle.writelines(export_lines(uow_factory=uow, clock=clock))
            export_seconds = time.perf_counter() - began

            if args.keep_export:
                Path(args.keep_export).write_bytes(path.read_bytes())
            # Offline verification happens on an auditor's machine: measure it in a fresh interpreter.
            offline_figures = subprocess.run(
                [sys.executable, __file__, "--offline", str(path)], capture_output=True, text=True, check=True
            ).stdout

        print(f"  post entries (PostgreSQL, {args.threads} threads): {rate(n, post_seconds)}")
        print(f"  chain records (PostgreSQL, one chainer):     {rate(records, chain_seconds)}")
        print(f"    chainer CPU (this process) per record:     {chain_cpu / records * 1e6:>9.1f} µs")
        print(
            f"  idle chainer pass (nothing to chain):        {idle_seconds / idle_passes * 1e3:>9.2f} ms,"
            f" {idle_cpu / idle_passes * 1e6:.0f} µs CPU (this process)"
        )
        print(f"  export records:                              {rate(records, export_seconds)}")
        print(offline_figures, end="")
        return 0
    finally:
        engine.dispose()
        with admin.connect() as connection:
            connection.exec_driver_sql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        admin.dispose()


if __name__ == "__main__":
    sys.exit(main())
