"""The CLI of the production path as an operator meets it: flags, migrations, sandboxes, help, dev.py."""

from __future__ import annotations

import argparse
import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from flosspay.adapters.cli.main import build_parser

pytestmark = pytest.mark.integration
FLOSSPAY = str(Path(sys.executable).parent / "flosspay")
ROOT = Path(__file__).resolve().parents[2]


def run(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([FLOSSPAY, *args], env=env, capture_output=True, text=True, timeout=60)


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("FLOSSPAY_")}
    return clean | {"FLOSSPAY_DATA_DIR": str(tmp_path / "data")}


@pytest.mark.parametrize(
    ("args", "flag", "message"),
    [
        (("api", "--workers", "0"), "--workers", "must be at least 1, got 0"),
        (("api", "--port", "99999"), "--port", "must be between 0 and 65535, got 99999"),
        (("serve", "--port", "-1"), "--port", "must be between 0 and 65535, got -1"),
        (("worker", "--threads", "0"), "--threads", "must be at least 1, got 0"),
        (("worker", "--processes", "0"), "--processes", "must be at least 1, got 0"),
        (("sandbox", "--port", "x"), "--port", "must be a whole number, got 'x'"),
    ],
)
def test_a_bad_flag_is_reported_by_its_name(env, args, flag, message) -> None:
    result = run(*args, env=env)
    assert result.returncode == 2
    assert f"error: argument {flag}: {message}" in result.stderr
    assert "FLOSSPAY_" not in result.stderr


def test_db_upgrade_lists_what_it_applied_then_says_up_to_date(env) -> None:
    first = run("db", "upgrade", env=env)
    assert first.returncode == 0, first.stderr
    applied = [line for line in first.stdout.splitlines() if line.startswith("applied ")]
    assert [line.split()[1] for line in applied][:2] == ["0001", "0002"]
    assert "already up to date" not in first.stdout
    assert re.search(r"database upgraded to \w+ .*\d+ migration\(s\) applied", first.stdout)
    second = run("db", "upgrade", env=env)
    assert second.stdout.startswith("database already up to date") and "applied" not in second.stdout


def _options(parser: argparse.ArgumentParser, where: str = "flosspay") -> list[tuple[str, argparse.Action]]:
    found = []
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                found += _options(sub, f"{where} {name}")
        elif not isinstance(action, argparse._HelpAction | argparse._VersionAction):
            found.append((f"{where} {'/'.join(action.option_strings) or action.dest}", action))
    return found


def test_every_option_and_argument_has_help_text() -> None:
    missing = [name for name, action in _options(build_parser()) if not action.help]
    assert missing == []


def test_sandbox_runs_a_rails_psp_and_prints_the_line_to_export(env) -> None:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    proc = subprocess.Popen(
        [FLOSSPAY, "sandbox", "upi", "--port", str(port)], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline().decode().strip()
        assert line == f"export FLOSSPAY_UPI_PSP_URL=http://127.0.0.1:{port}"
        key_line = proc.stdout.readline().decode().strip()
        assert key_line.startswith("export FLOSSPAY_UPI_API_KEY=")
        key = key_line.split("=", 1)[1]
        assert len(key) >= 32
        assert httpx.get(f"http://127.0.0.1:{port}/v1/health", timeout=5).json() == {"status": "ok"}
        # Only this run's key is accepted; --print-env hands the same lines to another shell.
        assert httpx.get(f"http://127.0.0.1:{port}/v1/debits", timeout=5).status_code == 401
        printed = run("sandbox", "--print-env", env=env)
        assert printed.returncode == 0, printed.stderr
        assert printed.stdout.split() == [
            f"FLOSSPAY_UPI_PSP_URL=http://127.0.0.1:{port}",
            f"FLOSSPAY_UPI_API_KEY={key}",
        ]
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(15) == 0


def test_sandbox_of_an_unknown_rail_is_one_line(env) -> None:
    result = run("sandbox", "nosuch", env=env)
    assert result.returncode == 1
    assert (
        result.stderr.strip()
        == "flosspay: error: no rail called 'nosuch' is installed (installed: card, netbanking, upi, wallet)"
    )


def test_dev_py_names_an_unknown_command() -> None:
    result = subprocess.run([sys.executable, str(ROOT / "scripts" / "dev.py"), "foo"], capture_output=True, text=True)
    assert result.returncode == 2
    assert "unknown command 'foo'" in result.stderr
