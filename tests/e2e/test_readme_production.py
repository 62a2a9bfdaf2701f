"""The README's "Running in production" block, run line by line as a person pasting it would.

The commands are read from README.md (never copied here). Only what is specific to this machine
is replaced: the database URL by a fresh test database (same password), the Redis URL by the
test server's, and the ports by free ones (keeping consecutive ports consecutive). Then a UPI and
a card payment must complete, and the processes' logs must be what the README promises.
"""

from __future__ import annotations

import json
import re
import shlex
import signal
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import redis
from sqlalchemy.engine import make_url

from tests.e2e.processes import Client, base_env, free_port, wait_for

pytestmark = [pytest.mark.e2e, pytest.mark.postgres, pytest.mark.redis, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]


def production_block(readme: str) -> list[str]:
    """The lines of the first ``sh`` fenced block under the "Running in production" heading."""
    section = readme.split("\n## Running in production", 1)[1].split("\n## ", 1)[0]
    match = re.search(r"^```sh\n(.*?)^```", section, re.S | re.M)
    assert match, "no ```sh block in README's Running in production section"
    return [line for line in match.group(1).splitlines() if line.strip()]


def _port_map(lines: list[str]) -> dict[int, int]:
    """README port → free port here; a run of consecutive README ports gets consecutive free ports."""
    found = sorted(
        {int(p) for line in lines for p in re.findall(r"(?:--port |--metrics-port |127\.0\.0\.1:)(\d{2,5})", line)}
    )
    runs: list[list[int]] = []
    for port in found:
        if runs and port == runs[-1][-1] + 1:
            runs[-1].append(port)
        else:
            runs.append([port])
    mapping: dict[int, int] = {}
    for run in runs:
        base = _free_run(len(run))
        mapping.update({port: base + i for i, port in enumerate(run)})
    return mapping


def _free_run(length: int) -> int:
    import socket

    for _ in range(50):
        base = free_port()
        if base + length > 65535:
            continue
        try:
            for offset in range(length):
                with socket.socket() as probe:
                    probe.bind(("127.0.0.1", base + offset))
            return base
        except OSError:
            continue
    raise AssertionError(f"no {length} consecutive free ports")


def localise(lines: list[str], database_url: str, redis_url: str) -> tuple[list[str], dict[int, int]]:
    """The README's lines with this machine's database, broker and free ports."""
    urls = re.compile(r"FLOSSPAY_(DATABASE|REDIS)_URL=")
    ports = _port_map([line for line in lines if not urls.search(line)])

    def swap(match: re.Match[str]) -> str:
        return match.group(1) + str(ports.get(int(match.group(2)), int(match.group(2))))

    out = []
    for line in lines:
        line = re.sub(r"FLOSSPAY_DATABASE_URL=\S+", f"FLOSSPAY_DATABASE_URL={database_url}", line)
        line = re.sub(r"FLOSSPAY_REDIS_URL=\S+", f"FLOSSPAY_REDIS_URL={redis_url}", line)
        if not urls.search(line):
            line = re.sub(r"(--port |--metrics-port |127\.0\.0\.1:)(\d{2,5})", swap, line)
        out.append(line)
    return out, ports


class Shell:
    """Runs pasted lines one at a time: exports change the environment, `&` starts a background process."""

    def __init__(self, env: dict[str, str], log_dir: Path) -> None:
        self.env = env
        self.log_dir = log_dir
        self.background: list[tuple[str, subprocess.Popen[bytes], Path]] = []
        self.outputs: list[tuple[str, subprocess.CompletedProcess[str]]] = []

    def run(self, line: str) -> None:
        tokens = shlex.split(line, comments=True)
        if not tokens:
            return
        if tokens[0] == "export":
            done = subprocess.run(
                ["bash", "-c", f"{line}\nenv -0"], env=self.env, cwd=ROOT, capture_output=True, check=True, timeout=30
            )
            self.env = dict(item.split("=", 1) for item in done.stdout.decode().split("\0") if "=" in item)
        elif tokens[-1] == "&":
            command = line[: line.rindex("&")].strip()
            log = self.log_dir / f"bg{len(self.background)}-{tokens[1] if len(tokens) > 1 else tokens[0]}.log"
            with log.open("wb") as out:
                popen = subprocess.Popen(
                    ["bash", "-c", f"exec {command}"], env=self.env, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT
                )
            self.background.append((command, popen, log))
        else:
            done = subprocess.run(
                ["bash", "-c", line], env=self.env, cwd=ROOT, capture_output=True, text=True, timeout=60
            )
            assert done.returncode == 0, f"{line!r} failed: {done.stderr}"
            self.outputs.append((line, done))

    def log_of(self, word: str) -> str:
        return "\n".join(log.read_text(errors="replace") for command, _, log in self.background if word in command)

    def stop(self) -> None:
        for _, popen, _ in reversed(self.background):
            if popen.poll() is None:
                popen.send_signal(signal.SIGTERM)
        for _, popen, _ in self.background:
            try:
                popen.wait(20)
            except subprocess.TimeoutExpired:
                popen.kill()
                popen.wait(5)


@pytest.fixture
def shell(tmp_path: Path, redis_url: str) -> Iterator[Shell]:
    if not (ROOT / ".venv" / "bin" / "flosspay").exists():
        pytest.skip("the README's PATH line needs the checkout's .venv (python3 scripts/dev.py setup)")
    namespace = f"fp-readme-{uuid.uuid4().hex[:8]}"
    env = base_env(FLOSSPAY_DATA_DIR=str(tmp_path / "data"), FLOSSPAY_QUEUE_NAMESPACE=namespace)
    env.pop("PWD", None)
    sh = Shell(env, tmp_path)
    try:
        yield sh
    finally:
        sh.stop()
        client = redis.Redis.from_url(redis_url)
        keys = list(client.scan_iter(f"{namespace}*"))
        if keys:
            client.delete(*keys)


def test_the_readme_production_sequence_takes_payments(shell: Shell, pg_database_url: str, redis_url: str) -> None:
    readme = (ROOT / "README.md").read_text()
    block = production_block(readme)
    readme_password = make_url(
        re.search(r"FLOSSPAY_DATABASE_URL=(\S+)", "\n".join(block)).group(1)  # type: ignore[union-attr]
    ).password
    assert readme_password, "the README's database URL shows where the password goes"
    # Trust authentication ignores the password, so the README's one can be kept (and must never be logged).
    database_url = make_url(pg_database_url).set(password=readme_password).render_as_string(hide_password=False)
    lines, ports = localise(block, database_url, redis_url)
    for line in lines:
        shell.run(line)
        if "sandbox --print-env" in line:
            # What the sandbox printed is now in the environment: each rail's URL and this run's API key.
            printed = re.findall(r"^export (FLOSSPAY_\w+_(?:PSP_URL|API_KEY))=(\S+)", shell.log_of("sandbox"), re.M)
            assert {name.split("_")[1] for name, _ in printed} == {"CARD", "NETBANKING", "UPI", "WALLET"}, printed
            assert all(shell.env.get(name) == value for name, value in printed), (
                "the README's export is what it printed"
            )

    upgrade = next(done for line, done in shell.outputs if "db upgrade" in line)
    assert "applied 0001" in upgrade.stdout and "already up to date" not in upgrade.stdout
    created = next(done for line, done in shell.outputs if "clients create" in line)
    creds = json.loads(created.stdout)
    api_port = ports[8080]
    api = f"http://127.0.0.1:{api_port}"
    wait_for(lambda: httpx.get(f"{api}/health/ready", timeout=2).status_code == 200, 40, "the API to be ready")
    client = Client(api, creds["clientId"], creds["secret"])

    upi = client.post(
        "/api/v1/pay",
        {"senderUpi": "alice@upi", "receiverUpi": "bob@upi", "amount": "28.00"},
        "r-1",
        headers={"X-Request-Id": "readme-req-1"},
    )
    assert upi.headers["X-Request-Id"] == "readme-req-1"
    assert upi.status_code == 200, upi.text
    card_body = {
        "method": "CARD",
        "amount": "499.00",
        "card": {"number": "4111111111111111", "expiryMonth": 12, "expiryYear": 2030, "cvv": "123"},
    }
    card = client.post("/api/v1/payments", card_body, "r-2")
    assert card.status_code == 200, card.text
    assert client.wait_final(upi.json()["id"], 40)["status"] == "COMPLETED"
    assert client.wait_final(card.json()["id"], 40)["status"] == "COMPLETED"

    # One ready process answers /health/ready; on a busy machine the second may still be starting.
    wait_for(lambda: shell.log_of("flosspay api").count("listening on") >= 2, 60, "both API processes")
    api_log, worker_log = shell.log_of("flosspay api"), shell.log_of("flosspay worker")
    for name, log in (("api", api_log), ("worker", worker_log)):
        events = [json.loads(line) for line in log.splitlines() if line.strip()]
        assert events, f"the {name} logged nothing"
        assert all({"ts", "level", "logger", "event"} <= e.keys() for e in events), log
        starts = [e for e in events if e["event"].startswith(f"flosspay {name} starting")]
        assert starts, log
        assert all(e["rails"] == "card,netbanking,upi,wallet" and e["broker"].startswith("redis://") for e in starts)
        assert all(e["database"].startswith("postgresql+psycopg://postgres:***@") for e in starts)
        assert readme_password not in log
    listening = [line for line in api_log.splitlines() if "listening on" in line]
    assert len(listening) == 2, api_log  # --workers 2: each process says so, in the same format
    assert f"http://127.0.0.1:{api_port}" in listening[0]

    # The request id travels with the payment id through the outbox into the worker's lines.
    worker_events = [json.loads(line) for line in worker_log.splitlines() if line.strip()]
    upi_id = upi.json()["id"]
    mine = [e for e in worker_events if e.get("payment_id") == upi_id]
    assert mine and all(e.get("request_id") == "readme-req-1" for e in mine), worker_log
    api_events = [json.loads(line) for line in api_log.splitlines() if line.strip()]
    assert any(e.get("payment_id") == upi_id and e.get("request_id") == "readme-req-1" for e in api_events)

    # Never a secret, an HMAC, a card number or a CVV in any process's log.
    everything = "\n".join(log.read_text(errors="replace") for _, _, log in shell.background)
    everything += "\n".join(done.stderr for _, done in shell.outputs)
    forbidden = [creds["secret"], shell.env["FLOSSPAY_SECRET_KEY"], readme_password, "4111111111111111", "411111"]
    forbidden += client.signatures
    for secret in forbidden:
        assert secret not in everything, f"{secret[:6]}… appears in the logs"
    assert not re.search(r"cvv", everything, re.I)
    # The sandbox prints its API keys (that is its job); nothing else may log them.
    others = "\n".join(log.read_text(errors="replace") for cmd, _, log in shell.background if "sandbox" not in cmd)
    for name, value in shell.env.items():
        if name.endswith("_API_KEY"):
            assert value not in others, f"{name} appears in the logs"

    # Metrics: the API's processes answer together; the worker on its own port; the dashboard's names exist.
    from tests.integration.test_ops_files import dashboard_metric_names, exposed_names

    api_metrics = httpx.get(f"{api}/metrics", timeout=5).text
    worker_metrics = httpx.get(f"http://127.0.0.1:{ports[9200]}/metrics", timeout=5).text
    assert re.search(r'flosspay_payments_created_total\{rail="upi"\} 1\.0', api_metrics), api_metrics
    assert re.search(r'flosspay_payments_created_total\{rail="card"\} 1\.0', api_metrics)
    assert re.search(
        r'flosspay_payments_finished_total\{code="00",outcome="completed",rail="upi"\} 1\.0', worker_metrics
    )
    assert 'flosspay_rail_call_seconds_count{action="execute",outcome="completed",rail="card"}' in worker_metrics
    assert "flosspay_outbox_backlog" in api_metrics and "flosspay_chain_lag" in api_metrics
    missing = dashboard_metric_names() - exposed_names(api_metrics) - exposed_names(worker_metrics)
    assert missing == set()
