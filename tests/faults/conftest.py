"""The fault-injection stack: FlossPay's real processes on a private Redis, real PostgreSQL, the UPI sandbox.

Every case ends with ``assert_settled``: every accepted payment final exactly once, the sandbox's
own debits equal to the COMPLETED payments, and ``flosspay ledger verify`` passing. Leases,
backoffs and the stalled sweep are short (environment below) so recovery happens in seconds.
"""

from __future__ import annotations

import json
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy

from tests.e2e.processes import FLOSSPAY, Client, Proc, base_env, free_port, run_cli, wait_for
from tests.faults.servers import PrivateRedis

FINAL = {"COMPLETED", "FAILED", "DECLINED", "EXPIRED"}
LEASE_SECONDS = 2
MAX_BACKOFF_MS = 400
RECOVERY_BUDGET_S = LEASE_SECONDS + MAX_BACKOFF_MS / 1000 + 15  # issue 9: lease + backoff + 15 s

# What each case measured, printed at the end of the session (pytest -s, or the report's captured output).
MEASURED: dict[str, dict[str, Any]] = {}


def record(case: str, **figures: Any) -> None:
    MEASURED[case] = figures
    print(f"faults {case}: " + ", ".join(f"{k}={v}" for k, v in figures.items()))


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]):  # type: ignore[no-untyped-def]
    report = yield
    setattr(item, f"rep_{report.when}", report)
    return report


@dataclass
class FaultStack:
    env: dict[str, str]
    log_dir: Path
    database_url: str
    redis: PrivateRedis
    sandbox_url: str
    creds: dict[str, str]
    procs: list[Proc] = field(default_factory=list)
    api_urls: list[str] = field(default_factory=list)

    def start(self, name: str, args: list[str]) -> Proc:
        proc = Proc(name, args, self.env, self.log_dir)
        self.procs.append(proc)
        return proc

    def start_worker(self, name: str = "worker", threads: int = 4) -> Proc:
        # One process per worker: the cases' bounds count worker threads (`--processes` defaults to
        # one per core, which doubled the calls a hanging PSP could hold before its breaker opened).
        return self.start(name, [FLOSSPAY, "worker", "--processes", "1", "--threads", str(threads)])

    def start_api(self, name: str = "api", port: int | None = None) -> tuple[Proc, str]:
        port = port or free_port()
        url = f"http://127.0.0.1:{port}"
        proc = self.start(name, [FLOSSPAY, "api", "--port", str(port)])
        wait_for(lambda: httpx.get(f"{url}/health", timeout=1).status_code == 200, 30, f"the API {name}")
        if url not in self.api_urls:
            self.api_urls.append(url)
        return proc, url

    def client(self, url: str | None = None) -> Client:
        return Client(url or self.api_urls[0], self.creds["clientId"], self.creds["secret"])

    def debits(self) -> list[dict[str, Any]]:
        return list(httpx.get(f"{self.sandbox_url}/v1/debits", timeout=10).json()["debits"])

    def statuses(self) -> dict[str, str]:
        engine = sqlalchemy.create_engine(self.database_url, poolclass=sqlalchemy.pool.NullPool)
        try:
            with engine.connect() as connection:
                rows = connection.exec_driver_sql("SELECT id, status FROM payments").all()
        finally:
            engine.dispose()
        return {str(pid): status for pid, status in rows}

    def wait_all_final(self, ids: set[str], timeout: float) -> float:
        """Seconds until every payment in ``ids`` is final (fails after ``timeout``)."""
        start = time.monotonic()

        def done() -> bool:
            statuses = self.statuses()
            return all(statuses.get(pid) in FINAL for pid in ids)

        try:
            wait_for(done, timeout, f"{len(ids)} payments to be final", interval=0.25)
        except AssertionError:
            statuses = self.statuses()
            pending = {pid: statuses.get(pid) for pid in ids if statuses.get(pid) not in FINAL}
            message = f"{len(pending)} payments not final after {timeout}s: {list(pending.items())[:10]}"
            raise AssertionError(message) from None
        return time.monotonic() - start

    def warm_up(self) -> str:
        """One payment through API and worker: both are up and connected before a fault is injected."""
        response = self.client().post(
            "/api/v1/pay", {"senderUpi": "warm@upi", "receiverUpi": "shop@upi", "amount": "1.00"}, "warm"
        )
        assert response.status_code == 200, response.text
        payment_id = str(response.json()["id"])
        self.wait_all_final({payment_id}, 30)
        return payment_id

    def logs(self) -> str:
        return "\n".join(f"--- {p.name}\n{p.output()[-4000:]}" for p in self.procs)


def assert_settled(stack: FaultStack, ids: set[str]) -> dict[str, int]:
    """Every accepted payment final exactly once; sandbox debits = COMPLETED payments; ledger verify passes."""
    engine = sqlalchemy.create_engine(stack.database_url, poolclass=sqlalchemy.pool.NullPool)
    try:
        with engine.connect() as connection:
            payments = dict(connection.exec_driver_sql("SELECT id, status FROM payments").all())
            finals = connection.exec_driver_sql(
                "SELECT payment_id, count(*) FROM payment_history WHERE to_status IN "
                "('COMPLETED','FAILED','DECLINED','EXPIRED') GROUP BY payment_id"
            ).all()
            entries = connection.exec_driver_sql(
                "SELECT payment_id, count(*) FROM ledger_entries WHERE kind = 'payment' GROUP BY payment_id"
            ).all()
            orphans = connection.exec_driver_sql(
                "SELECT count(*) FROM payments p WHERE NOT EXISTS "
                "(SELECT 1 FROM payment_history h WHERE h.payment_id = p.id)"
            ).scalar_one()
    finally:
        engine.dispose()
    payments = {str(k): v for k, v in payments.items()}
    assert ids <= set(payments), "an accepted payment is missing from the database"
    not_final = {pid: s for pid, s in payments.items() if s not in FINAL}
    assert not not_final, f"payments not final: {list(not_final.items())[:10]}"
    assert all(count == 1 for _, count in finals), "a payment reached a final status more than once"
    assert {str(pid) for pid, _ in finals} == set(payments)
    assert orphans == 0, "a payment without its history row (half-written)"
    completed = {pid for pid, s in payments.items() if s == "COMPLETED"}
    assert {str(pid) for pid, _ in entries} == completed and all(n == 1 for _, n in entries)
    debits = stack.debits()
    debited = [d["reference"] for d in debits]
    assert len(debited) == len(set(debited)), "the sandbox debited a payment twice"
    assert set(debited) == completed, (
        f"sandbox debits != COMPLETED: only debited {sorted(set(debited) - completed)[:5]}, "
        f"only completed {sorted(completed - set(debited))[:5]}"
    )
    verify = run_cli(["ledger", "verify", "--quiet"], stack.env)
    assert verify.returncode == 0, verify.stdout + verify.stderr
    return {"payments": len(payments), "completed": len(completed), "debits": len(debited)}


def post_all(
    clients: list[Client],
    requests: list[tuple[str, dict[str, Any], str]],
    threads: int = 8,
    tries: int = 300,
    seen: dict[str, int] | None = None,
    pace: float = 0.0,
) -> dict[str, str]:
    """POST each (path, body, key), retrying errors with the same key until accepted; key → payment id.

    ``seen`` counts the answers by kind (``200``, ``503``, ``connection``…); a 500 fails the test.
    """
    lock = threading.Lock()

    def count(kind: str) -> None:
        if seen is not None:
            with lock:
                seen[kind] = seen.get(kind, 0) + 1

    def one(index: int) -> tuple[str, str]:
        path, body, key = requests[index]
        for attempt in range(tries):
            client = clients[(index + attempt) % len(clients)]
            try:
                response = client.post(path, body, key=key)
            except httpx.HTTPError:
                count("connection")
                time.sleep(0.1)
                continue
            count(str(response.status_code))
            assert response.status_code != 500, response.text
            if response.status_code in (200, 202):
                time.sleep(pace)
                return key, str(response.json()["id"])
            if response.status_code == 429:  # as a merchant's client would: wait as told, same key
                time.sleep(float(response.headers.get("Retry-After", "1")))
                continue
            assert response.status_code in (409, 503), (response.status_code, response.text)
            time.sleep(0.1)
        raise AssertionError(f"{key} never accepted")

    with ThreadPoolExecutor(threads) as pool:
        return dict(pool.map(one, range(len(requests))))


def payment_requests(count: int, prefix: str = "p", kinds: tuple[str, ...] = ("", "flaky.", "deemed.")) -> list:
    """Plain, flaky (two 503s first) and deemed (uncertain, settled by status) payers, in turn."""
    out = []
    for i in range(count):
        kind = kinds[i % len(kinds)]
        body = {"senderUpi": f"{kind}payer{i}@upi", "receiverUpi": "shop@upi", "amount": "1.00"}
        out.append(("/api/v1/pay", body, f"{prefix}-{i}"))
    return out


@pytest.fixture
def private_redis(tmp_path: Path) -> Iterator[PrivateRedis]:
    server = PrivateRedis(tmp_path)
    server.start()
    try:
        yield server
    finally:
        server.stop()


def build_stack(database_url: str, redis_server: PrivateRedis, tmp_path: Path, **extra: str) -> FaultStack:
    env = base_env(
        FLOSSPAY_DATABASE_URL=database_url,
        FLOSSPAY_REDIS_URL=redis_server.url,
        FLOSSPAY_QUEUE_NAMESPACE=f"fp-faults-{uuid.uuid4().hex[:8]}",
        FLOSSPAY_DATA_DIR=str(tmp_path / "data"),
        FLOSSPAY_RAILS="upi",
        FLOSSPAY_LEASE_SECONDS=str(LEASE_SECONDS),
        FLOSSPAY_RETRY_MIN_BACKOFF_MS="100",
        FLOSSPAY_RETRY_MAX_BACKOFF_MS=str(MAX_BACKOFF_MS),
        FLOSSPAY_STALL_AFTER_SECONDS="3",
        FLOSSPAY_MAX_ATTEMPTS="10",
        FLOSSPAY_LOG_LEVEL="WARNING",
        # Two thirds of these payers answer transiently first by design (flaky, deemed): a failure share
        # a real PSP would trip the breaker with. Its own case is test_breaker_faults.py.
        FLOSSPAY_BREAKER_FAILURES="1000",
        FLOSSPAY_BREAKER_FAILURE_RATE="0.95",
        **extra,
    )
    sandbox_port = free_port()
    sandbox_url = f"http://127.0.0.1:{sandbox_port}"
    sandbox = Proc(
        "sandbox", [sys.executable, "-m", "flosspay_upi.sandbox", "--port", str(sandbox_port)], env, tmp_path
    )
    env["FLOSSPAY_UPI_PSP_URL"] = sandbox_url
    env["FLOSSPAY_UPI_TIMEOUT"] = "5"
    upgraded = run_cli(["db", "upgrade"], env)
    assert upgraded.returncode == 0, upgraded.stderr
    # Faults, not rate limits, are under test here: the merchant's bucket is far above any load below.
    created = run_cli(["clients", "create", "faults-merchant", "--json", "--rate", "100000", "--burst", "100000"], env)
    assert created.returncode == 0, created.stderr
    stack = FaultStack(env, tmp_path, database_url, redis_server, sandbox_url, json.loads(created.stdout))
    stack.procs.append(sandbox)
    wait_for(lambda: httpx.get(f"{sandbox_url}/v1/health", timeout=1).status_code == 200, 15, "the sandbox")
    return stack


def teardown_stack(stack: FaultStack, request: pytest.FixtureRequest) -> None:
    for proc in reversed(stack.procs):
        proc.stop()
    report = getattr(request.node, "rep_call", None)
    if report is not None and report.failed:
        print(stack.logs())


@pytest.fixture
def stack(
    pg_database_url: str, private_redis: PrivateRedis, tmp_path: Path, request: pytest.FixtureRequest
) -> Iterator[FaultStack]:
    """Sandbox and schema on a fresh database of the shared PostgreSQL, a private Redis; no API or worker yet."""
    stack = build_stack(pg_database_url, private_redis, tmp_path)
    try:
        yield stack
    finally:
        teardown_stack(stack, request)


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if MEASURED:
        terminalreporter.section("fault-injection measurements")
        for case, figures in MEASURED.items():
            terminalreporter.write_line(f"{case}: " + ", ".join(f"{k}={v}" for k, v in figures.items()))
