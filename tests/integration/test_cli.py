"""The `flosspay` command as a user runs it: real processes, SQLite in a temporary data dir."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from flosspay.adapters.http.signature import canonical_request, sign

pytestmark = pytest.mark.integration
FLOSSPAY = str(Path(sys.executable).parent / "flosspay")


def run(*args: str, env: dict[str, str], stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([FLOSSPAY, *args], env=env, capture_output=True, text=True, timeout=60, input=stdin)


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    import os

    clean = {k: v for k, v in os.environ.items() if not k.startswith("FLOSSPAY_")}
    return clean | {"FLOSSPAY_DATA_DIR": str(tmp_path / "data")}


def test_clients_need_the_schema_then_create_and_list(env):
    refused = run("clients", "create", "acme", env=env)
    assert refused.returncode == 1 and "Traceback" not in refused.stderr
    assert (
        refused.stderr.strip()
        == "flosspay: error: the database has no FlossPay schema; run `flosspay db upgrade` first"
    )
    assert run("db", "upgrade", env=env).returncode == 0
    created = run("clients", "create", "Acme Stores", "--json", env=env)
    creds = json.loads(created.stdout)
    assert set(creds) == {"clientId", "secret"} and creds["secret"].startswith("sk_")
    listed = json.loads(run("clients", "list", "--json", env=env).stdout)
    assert [(c["clientId"], c["name"], c["active"]) for c in listed] == [(creds["clientId"], "Acme Stores", True)]
    assert creds["secret"] not in run("clients", "list", env=env).stdout


def test_sign_prints_the_documented_headers(env):
    out = run(
        "sign",
        "POST",
        "/api/v1/pay?x=1",
        "--body",
        '{"a":1}',
        "-k",
        "k1",
        "--client-id",
        "cl_1",
        "--secret",
        "sk_s",
        "--timestamp",
        "1700000000",
        "--format",
        "json",
        env=env,
    )
    headers = json.loads(out.stdout)
    expected = sign("sk_s", canonical_request("POST", "/api/v1/pay?x=1", "1700000000", "k1", b'{"a":1}'))
    assert headers == {"X-Client-Id": "cl_1", "X-Timestamp": "1700000000", "Idempotency-Key": "k1", "X-HMAC": expected}
    body_from_stdin = run(
        "sign",
        "POST",
        "/p",
        "--body-file",
        "-",
        "--timestamp",
        "1",
        "--format",
        "json",
        env=env | {"FLOSSPAY_CLIENT_ID": "c", "FLOSSPAY_CLIENT_SECRET": "s"},
        stdin="{}",
    )
    assert json.loads(body_from_stdin.stdout)["X-HMAC"] == sign("s", canonical_request("POST", "/p", "1", "", b"{}"))
    curl = run(
        "sign",
        "GET",
        "/api/v1/transaction/x/status",
        "--client-id",
        "c",
        "--secret",
        "s",
        "--format",
        "curl",
        "--url",
        "http://h:1",
        env=env,
    ).stdout
    assert curl.startswith("curl -sS -X GET http://h:1/api/v1/transaction/x/status -H 'X-Client-Id: c'")


@pytest.mark.parametrize(
    ("args", "extra_env", "message"),
    [
        (
            ("sign", "POST", "/p"),
            {},
            "need --client-id and --secret (or FLOSSPAY_CLIENT_ID and FLOSSPAY_CLIENT_SECRET)",
        ),
        (
            ("sign", "POST", "p", "--client-id", "a", "--secret", "b"),
            {},
            "PATH must start with / (for example /api/v1/pay)",
        ),
        (
            ("sign", "POST", "/p", "--client-id", "a", "--secret", "b", "--body-file", "/nonexistent"),
            {},
            "cannot read body file: No such file or directory: /nonexistent",
        ),
        (
            ("worker",),
            {},
            "flosspay worker needs FLOSSPAY_REDIS_URL or FLOSSPAY_BROKER_URL "
            "(the embedded queue lives inside `flosspay serve`)",
        ),
        (
            ("worker",),
            {"FLOSSPAY_BROKER_URL": "amqp://guest:guest@127.0.0.1:5672/"},
            "FLOSSPAY_BROKER_URL=amqp://… needs FLOSSPAY_REDIS_URL too "
            "(circuit breakers and rate limits are shared through Redis)",
        ),
        (
            ("db", "upgrade"),
            {"FLOSSPAY_DATABASE_URL": "mysql://x"},
            "FLOSSPAY_DATABASE_URL must be a sqlite:/// or postgresql+psycopg:// URL, got 'mysql://x'",
        ),
        (
            ("db", "upgrade"),
            {"FLOSSPAY_DATABASE_URL": "postgresql://postgres@127.0.0.1:1/x"},
            "database unavailable at postgresql+psycopg://postgres@127.0.0.1:1/x",
        ),
        (("api",), {"FLOSSPAY_PORT": "abc"}, "FLOSSPAY_PORT must be a whole number, got 'abc'"),
    ],
)
def test_failures_are_one_line(env, args, extra_env, message):
    result = run(*args, env=env | extra_env)
    assert result.returncode == 1
    assert result.stderr.strip() == f"flosspay: error: {message}"


def test_rails_list_shows_installed_enabled_versions_and_errors(env):
    settings = {
        "FLOSSPAY_UPI_PSP_URL": "http://127.0.0.1:9",
        "FLOSSPAY_CARD_PSP_URL": "http://127.0.0.1:9",
        "FLOSSPAY_RAILS": "upi,card",
    }
    rails = {r["name"]: r for r in json.loads(run("rails", "list", "--json", env=env | settings).stdout)}
    assert (
        rails["upi"]["enabled"] and rails["upi"]["method"] == "UPI" and rails["upi"]["distribution"] == "flosspay-upi"
    )
    assert rails["upi"]["version"] and rails["card"]["enabled"]
    assert not rails["wallet"]["enabled"] and rails["wallet"]["error"] is None
    failing = {
        r["name"]: r for r in json.loads(run("rails", "list", "--json", env=env | {"FLOSSPAY_RAILS": "upi"}).stdout)
    }
    assert not failing["upi"]["enabled"] and "FLOSSPAY_UPI_PSP_URL" in failing["upi"]["error"]
    table = run("rails", "list", env=env | settings)
    assert table.returncode == 0 and table.stderr == ""
    assert any(line.startswith("upi") and "enabled" in line for line in table.stdout.splitlines())


def test_a_taken_port_is_a_one_line_error(env):
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = run("serve", "--port", str(port), env=env)
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert result.stderr.strip().endswith(
        f"flosspay: error: cannot listen on 127.0.0.1:{port}: Address already in use (choose another with --port)"
    )
