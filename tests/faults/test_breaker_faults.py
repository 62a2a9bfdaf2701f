"""Fault case 5: the PSP answers 5xx, or hangs, for a while.

Real processes: one ``flosspay api`` and two ``flosspay worker`` processes on PostgreSQL and Redis,
the UPI rail pointed at a PSP that fails on command. The breaker must open (the PSP's own count of
calls shows the workers stop hammering it), payments must wait instead of failing, and every one
must complete exactly once after the PSP recovers, with the ledger verifying.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import redis

from tests.e2e.processes import FLOSSPAY, Client, Proc, base_env, free_port, run_cli, wait_for
from tests.faults.breaker_support import FAILING, HANGING, HEALTHY, FaultyPsp

pytestmark = [pytest.mark.faults, pytest.mark.postgres, pytest.mark.redis, pytest.mark.slow]

PAYMENTS = 40
COOL_DOWN = 2.0
FAILURES_TO_OPEN = 3
OUTAGE = 8.0
WORKERS = 2
THREADS = 4


class Deployment:
    def __init__(self, env: dict[str, str], log_dir: Path, psp: FaultyPsp, api: Client) -> None:
        self.env, self.log_dir, self.psp, self.api = env, log_dir, psp, api
        self.procs: list[Proc] = []

    def start(self, name: str, args: list[str]) -> None:
        self.procs.append(Proc(name, args, self.env, self.log_dir))

    def logs(self) -> str:
        return "\n".join(f"--- {p.name}\n{p.output()[-4000:]}" for p in self.procs)

    def statuses(self, ids: list[str]) -> dict[str, str]:
        return {pid: self.api.status(pid)["status"] for pid in ids}

    def breaker(self) -> dict[str, str]:
        path = "/api/v1/rails"
        from flosspay.adapters.cli.signing import signed_headers

        headers = signed_headers(
            client_id=self.api.client_id, secret=self.api.secret, method="GET", path=path, body=b""
        )
        (upi,) = [r for r in self.api.http.get(path, headers=headers).json()["rails"] if r["name"] == "upi"]
        return dict(upi["breaker"])


@pytest.fixture
def deployment(pg_database_url: str, redis_url: str, tmp_path: Path) -> Iterator[Deployment]:
    namespace = f"fp-faults-{uuid.uuid4().hex[:8]}"
    psp = FaultyPsp(hang_seconds=3.0)  # "hangs for 30 s", shortened; the rail gives up after 1 s
    psp_url = psp.start("127.0.0.1", 0)
    env = base_env(
        FLOSSPAY_DATABASE_URL=pg_database_url,
        FLOSSPAY_REDIS_URL=redis_url,
        FLOSSPAY_QUEUE_NAMESPACE=namespace,
        FLOSSPAY_DATA_DIR=str(tmp_path / "data"),
        FLOSSPAY_RAILS="upi",
        FLOSSPAY_UPI_PSP_URL=psp_url,
        FLOSSPAY_UPI_TIMEOUT="1",
        FLOSSPAY_LEASE_SECONDS="5",
        FLOSSPAY_MAX_ATTEMPTS="8",
        FLOSSPAY_RETRY_MIN_BACKOFF_MS="200",
        FLOSSPAY_RETRY_MAX_BACKOFF_MS="1000",
        FLOSSPAY_BREAKER_FAILURES=str(FAILURES_TO_OPEN),
        FLOSSPAY_BREAKER_COOL_DOWN_SECONDS=str(COOL_DOWN),
        FLOSSPAY_BREAKER_HALF_OPEN_PROBES="1",
        FLOSSPAY_LOG_LEVEL="INFO",
    )
    assert run_cli(["db", "upgrade"], env).returncode == 0
    created = run_cli(["clients", "create", "faults", "--json"], env)
    assert created.returncode == 0, created.stderr
    creds = json.loads(created.stdout)
    port = free_port()
    api = Client(f"http://127.0.0.1:{port}", creds["clientId"], creds["secret"])
    deployment = Deployment(env, tmp_path, psp, api)
    deployment.start("api", [FLOSSPAY, "api", "--port", str(port)])
    for n in range(WORKERS):
        deployment.start(f"worker{n}", [FLOSSPAY, "worker", "--processes", "1", "--threads", str(THREADS)])
    try:
        wait_for(
            lambda: httpx.get(f"http://127.0.0.1:{port}/health/ready", timeout=1).status_code == 200, 30, "the API"
        )
        yield deployment
    except BaseException:
        print(deployment.logs())
        raise
    finally:
        for proc in reversed(deployment.procs):
            proc.stop()
        psp.stop()
        client = redis.Redis.from_url(redis_url)
        keys = list(client.scan_iter(f"{namespace}*"))
        if keys:
            client.delete(*keys)
        client.close()


@pytest.mark.parametrize("fault", [FAILING, HANGING])
def test_an_unhealthy_psp_opens_the_breaker_and_payments_wait_then_complete(deployment: Deployment, fault: str):
    d, psp = deployment, deployment.psp
    psp.mode = fault
    started = time.monotonic()
    ids = []
    for i in range(PAYMENTS):
        body = {"senderUpi": f"payer{i}@upi", "receiverUpi": "shop@upi", "amount": "10.00"}
        answer = d.api.post("/api/v1/pay", body, key=f"fault-{fault}-{i}")
        assert answer.status_code == 200, answer.text
        ids.append(answer.json()["id"])

    # The breaker opens: every worker sees it through Redis, and GET /api/v1/rails shows it.
    opened = wait_for(lambda: d.breaker()["state"] != "CLOSED" and time.monotonic(), 20, "the breaker to open")
    calls_to_open = psp.calls_between(started, opened)
    time.sleep(max(0.0, started + OUTAGE - time.monotonic()))
    outage_end = time.monotonic()
    settled_from = opened + 1.5  # calls already in flight when it opened have answered by then
    calls_while_open = psp.calls_between(settled_from, outage_end)
    during = d.statuses(ids)
    breaker_during = d.breaker()

    psp.mode = HEALTHY
    recovered_at = time.monotonic()
    finals = wait_for(
        lambda: (s := d.statuses(ids)) and all(v == "COMPLETED" for v in s.values()) and s,
        60,
        "every payment to complete after the PSP recovered",
        interval=0.5,
    )
    time_to_recover = time.monotonic() - recovered_at

    attempts = [len(d.api.status(pid)["attempts"]) for pid in ids]
    debited = psp.debited_references()
    print(
        f"\nfault={fault}: {PAYMENTS} payments, {WORKERS}x{THREADS} worker threads; PSP calls before the breaker"
        f" opened: {calls_to_open} in {opened - started:.1f} s; calls in the {outage_end - settled_from:.1f} s it stayed open: {calls_while_open}"
        f" (cool-down {COOL_DOWN} s); total PSP calls {psp.calls}; attempts per payment max {max(attempts)}"
        f" total {sum(attempts)}; all completed {time_to_recover:.1f} s after recovery; debits {len(debited)}"
    )
    # Nothing failed while the PSP was down: payments waited (QUEUED or PROCESSING), none gave up.
    assert set(during.values()) <= {"QUEUED", "PROCESSING"}, during
    assert breaker_during["state"] in ("OPEN", "HALF_OPEN") and breaker_during["failureCount"] >= FAILURES_TO_OPEN
    # The workers stopped hammering it: while open, only probes (about one per cool-down) reach the PSP,
    # against the 40+ payments that were ready to be retried.
    probes_allowed = int((outage_end - settled_from) / COOL_DOWN) + 2
    assert calls_while_open <= probes_allowed, (calls_while_open, probes_allowed)
    # Before it opens: the failures that open it, one call in flight per thread, and (ADR 0015: each
    # process caches the breaker's state for 0.25 s) one more per thread of the other workers, which
    # may see the opening that late. CI once saw 12 against the bound without that last term (11).
    assert calls_to_open <= FAILURES_TO_OPEN + WORKERS * THREADS + (WORKERS - 1) * THREADS
    # Every payment completed exactly once: the PSP's own record of debits is the COMPLETED set.
    assert set(finals.values()) == {"COMPLETED"}
    assert sorted(debited) == sorted(ids)
    assert time_to_recover < 2 * COOL_DOWN + 10
    assert d.breaker()["state"] == "CLOSED"
    verified = run_cli(["ledger", "verify"], d.env)
    assert verified.returncode == 0, verified.stdout + verified.stderr
