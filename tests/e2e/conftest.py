"""Fixtures that run FlossPay as separate processes against the real PostgreSQL and Redis."""

from __future__ import annotations

import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
import redis

from tests.e2e.processes import Client, Proc, base_env, free_port, run_cli, wait_for


@dataclass
class Stack:
    env: dict[str, str]
    log_dir: Path
    sandbox_url: str
    api_url: str
    client: Client
    procs: list[Proc] = field(default_factory=list)

    def start(self, name: str, args: list[str]) -> Proc:
        proc = Proc(name, args, self.env, self.log_dir)
        self.procs.append(proc)
        return proc

    def start_worker(self, name: str = "worker") -> Proc:
        from tests.e2e.processes import FLOSSPAY

        return self.start(name, [FLOSSPAY, "worker", "--threads", "4"])

    def debits(self, reference: str) -> list[dict[str, object]]:
        response = httpx.get(f"{self.sandbox_url}/v1/debits", params={"reference": reference}, timeout=5)
        return list(response.json()["debits"])

    def logs(self) -> str:
        return "\n".join(f"--- {p.name}\n{p.output()[-3000:]}" for p in self.procs)


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]):  # type: ignore[no-untyped-def]
    """Keep each phase's report on the item, so the fixture can print the processes' logs on failure."""
    report = yield
    setattr(item, f"rep_{report.when}", report)
    return report


@pytest.fixture
def stack_env() -> dict[str, str]:
    """Extra FLOSSPAY_* settings for every process of the stack: a test module overrides this fixture."""
    return {}


@pytest.fixture
def stack(
    pg_database_url: str, redis_url: str, tmp_path: Path, request: pytest.FixtureRequest, stack_env: dict[str, str]
) -> Iterator[Stack]:
    """Sandbox PSP, API and one worker as real processes on a fresh PostgreSQL database."""
    namespace = f"fp-e2e-{uuid.uuid4().hex[:8]}"
    env = base_env(
        FLOSSPAY_DATABASE_URL=pg_database_url,
        FLOSSPAY_REDIS_URL=redis_url,
        FLOSSPAY_QUEUE_NAMESPACE=namespace,
        FLOSSPAY_DATA_DIR=str(tmp_path / "data"),
        FLOSSPAY_RAILS="upi",
        FLOSSPAY_LEASE_SECONDS="2",
        FLOSSPAY_RETRY_MIN_BACKOFF_MS="100",
        FLOSSPAY_RETRY_MAX_BACKOFF_MS="400",
        FLOSSPAY_COLLECT_POLL_SECONDS="0.3",
        FLOSSPAY_LOG_LEVEL="INFO",
    )
    env.update(stack_env)
    sandbox_port = free_port()
    sandbox = Proc(
        "sandbox",
        [
            sys.executable,
            "-m",
            "flosspay_upi.sandbox",
            "--port",
            str(sandbox_port),
            "--slow-seconds",
            "4",
            "--collect-approve-seconds",
            "0.5",
        ],
        env,
        tmp_path,
    )
    sandbox_url = f"http://127.0.0.1:{sandbox_port}"
    env["FLOSSPAY_UPI_PSP_URL"] = sandbox_url
    env["FLOSSPAY_UPI_TIMEOUT"] = "10"
    assert run_cli(["db", "upgrade"], env).returncode == 0
    created = run_cli(["clients", "create", "e2e-merchant", "--json"], env)
    assert created.returncode == 0, created.stderr
    creds = __import__("json").loads(created.stdout)
    api_port = free_port()
    api_url = f"http://127.0.0.1:{api_port}"
    stack = Stack(env, tmp_path, sandbox_url, api_url, Client(api_url, creds["clientId"], creds["secret"]))
    stack.procs.append(sandbox)
    from tests.e2e.processes import FLOSSPAY

    stack.start("api", [FLOSSPAY, "api", "--port", str(api_port)])
    stack.start_worker()
    try:
        wait_for(lambda: httpx.get(f"{sandbox_url}/v1/health", timeout=1).status_code == 200, 15, "the sandbox")
        wait_for(lambda: httpx.get(f"{api_url}/health/ready", timeout=1).status_code == 200, 20, "the API")
        yield stack
    except BaseException:
        print(stack.logs())
        raise
    finally:
        for proc in reversed(stack.procs):
            proc.stop()
        report = getattr(request.node, "rep_call", None)
        if report is not None and report.failed:
            print(stack.logs())
        client = redis.Redis.from_url(redis_url)
        keys = list(client.scan_iter(f"{namespace}*"))
        if keys:
            client.delete(*keys)
