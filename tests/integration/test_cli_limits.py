"""`flosspay clients create/update --rate --burst` and `flosspay rails list` with its header and breakers."""

import json
import os
import sys
import uuid
from datetime import UTC, datetime
from pathlib import Path

import pytest
import redis

from flosspay.adapters.breaker_store import RedisBreakerStore
from flosspay.domain.breaker import Breaker, BreakerState

pytestmark = pytest.mark.integration
FLOSSPAY = str(Path(sys.executable).parent / "flosspay")


def run(*args: str, env: dict[str, str]):
    import subprocess

    return subprocess.run([FLOSSPAY, *args], env=env, capture_output=True, text=True, timeout=60)


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("FLOSSPAY_")}
    return clean | {"FLOSSPAY_DATA_DIR": str(tmp_path / "data")}


def listed(env):
    return {c["clientId"]: c for c in json.loads(run("clients", "list", "--json", env=env).stdout)}


def test_clients_get_a_rate_and_burst_and_can_change_them(env):
    assert run("db", "upgrade", env=env).returncode == 0
    default = json.loads(run("clients", "create", "Plain", "--json", env=env).stdout)["clientId"]
    tuned = json.loads(run("clients", "create", "Busy", "--rate", "2.5", "--burst", "7", "--json", env=env).stdout)
    clients = listed(env)
    assert (clients[default]["rate"], clients[default]["burst"]) == (100.0, 200)
    assert (clients[tuned["clientId"]]["rate"], clients[tuned["clientId"]]["burst"]) == (2.5, 7)
    assert "2.5/s burst 7" in run("clients", "list", env=env).stdout

    changed = run("clients", "update", default, "--burst", "50", env=env)
    assert changed.returncode == 0 and changed.stdout.strip() == f"{default}: rate 100/s, burst 50"
    run("clients", "update", default, "--rate", "0.5", env=env)
    after = listed(env)[default]
    assert (after["rate"], after["burst"]) == (0.5, 50)


BAD = [
    (("update", "cl_nobody", "--rate", "5"), "no client 'cl_nobody'"),
    (("update", "CLIENT"), "nothing to change: give --rate and/or --burst"),
    (("update", "CLIENT", "--rate", "0"), "rate: must be a positive number of requests per second up to 1e+06"),
    (("update", "CLIENT", "--burst", "0"), "burst: must be between 1 and 10000000"),
    (("create", "x", "--rate", "-1"), "rate: must be a positive number of requests per second up to 1e+06"),
]


def test_bad_limits_are_one_line_errors(env):
    assert run("db", "upgrade", env=env).returncode == 0
    client = json.loads(run("clients", "create", "Acme", "--json", env=env).stdout)["clientId"]
    for args, message in BAD:
        result = run("clients", *[client if a == "CLIENT" else a for a in args], env=env)
        assert result.returncode == 1 and result.stderr.strip() == f"flosspay: error: {message}"
    clients = listed(env)
    assert list(clients) == [client] and clients[client]["burst"] == 200


SETTINGS = {"FLOSSPAY_UPI_PSP_URL": "http://127.0.0.1:9", "FLOSSPAY_CARD_PSP_URL": "http://127.0.0.1:9"}


def test_rails_list_has_a_header_row_and_flows(env):
    table = run("rails", "list", env=env | SETTINGS | {"FLOSSPAY_RAILS": "upi,card"})
    lines = table.stdout.splitlines()
    assert table.returncode == 0 and lines[0].split() == [
        "NAME",
        "METHOD",
        "FLOWS",
        "BREAKER",
        "STATE",
        "DISTRIBUTION",
        "VERSION",
    ]
    upi = next(line.split() for line in lines[1:] if line.startswith("upi"))
    assert upi[:5] == ["upi", "UPI", "COLLECT,PAY", "in-process", "enabled"] and upi[5] == "flosspay-upi"
    wallet = next(line.split() for line in lines[1:] if line.startswith("wallet"))
    assert wallet[3:5] == ["-", "disabled"]


@pytest.mark.redis
def test_rails_list_shows_the_shared_breakers(env, redis_url):
    namespace = f"flosspay-test-{uuid.uuid4().hex[:12]}"
    opened = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
    store = RedisBreakerStore(redis_url, namespace)
    store.swap(0, Breaker("upi", BreakerState.OPEN, failures=5, last_failure=opened, opened_at=opened, version=1))
    store.close()
    try:
        shared = env | SETTINGS | {"FLOSSPAY_REDIS_URL": redis_url, "FLOSSPAY_QUEUE_NAMESPACE": namespace}
        lines = run("rails", "list", env=shared).stdout.splitlines()
        rows = {line.split()[0]: line.split() for line in lines[1:]}
        assert rows["upi"][3] == "OPEN" and rows["card"][3] == "CLOSED"
        rails = {r["name"]: r for r in json.loads(run("rails", "list", "--json", env=shared).stdout)}
        assert rails["upi"]["breaker"] == {
            "service": "upi",
            "state": "OPEN",
            "failureCount": 5,
            "lastFailure": "2026-01-01T12:00:00Z",
            "openedAt": "2026-01-01T12:00:00Z",
        }
        assert rails["upi"]["flows"] == ["COLLECT", "PAY"]
    finally:
        redis.Redis.from_url(redis_url).delete(f"{namespace}:breaker:upi")
