"""run_cli: a sandbox from the command line prints its URL, takes settings from the environment and its
options, refuses bad input in one line (never a traceback), and stops cleanly on a signal."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import ClassVar

import httpx
import pytest

from flosspay.railkit import CliOption, Reply, SandboxRequest, SandboxServer, SettingsReader, run_cli

pytestmark = pytest.mark.integration


class TellSandbox(SandboxServer):
    """Answers every request with the settings it was built from."""

    name: ClassVar[str] = "tell-sandbox"

    def __init__(self, settings: Mapping[str, str], *, verbose: bool) -> None:
        read = SettingsReader(settings, rail="demo")
        super().__init__(api_key=read.secret(), verbose=verbose)
        self.settings = dict(settings)
        read.seconds("delay", 1.0, allow_zero=True)

    def route(self, request: SandboxRequest) -> Reply | None:
        return Reply(200, {"settings": self.settings})


OPTIONS = [CliOption("--delay", "delay", "how long to wait")]


def main(argv: list[str] | None = None, environ: Mapping[str, str] | None = None) -> int:
    """What a rail's ``sandbox.main`` looks like; the subprocess test runs this one."""
    return run_cli(
        TellSandbox, argv, rail="demo", prog="demo-sandbox", description="A demo.", options=OPTIONS, environ=environ
    )


def run(argv: list[str]) -> int:
    return main(argv, environ={})


def test_the_command_prints_its_url_serves_with_env_and_option_settings_and_stops_on_sigterm() -> None:
    env = os.environ | {
        "PYTHONPATH": os.pathsep.join(filter(None, [str(Path(__file__).parent), os.environ.get("PYTHONPATH")])),
        "FLOSSPAY_DEMO_API_KEY": "k-1",
        "FLOSSPAY_DEMO_COLOUR": "blue",
        "FLOSSPAY_DEMO_DELAY": "9",
    }
    command = "import sys, test_railkit_sandbox_cli as demo; sys.exit(demo.main())"
    process = subprocess.Popen(
        [sys.executable, "-c", command, "--port", "0", "--delay", "0.5"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        assert process.stdout is not None
        url = process.stdout.readline().strip()
        assert url.startswith("http://127.0.0.1:")
        answer = httpx.get(f"{url}/anything", headers={"Authorization": "Bearer k-1"}, timeout=5)
        assert answer.json() == {"settings": {"api_key": "k-1", "colour": "blue", "delay": "0.5"}}
        assert httpx.get(f"{url}/anything", timeout=5).status_code == 401
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=10) == 0
        assert process.stderr is not None
        assert process.stderr.read() == ""
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def test_a_port_out_of_range_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        run(["--port", "70000"])
    assert exited.value.code == 2
    assert "--port must be between 0 and 65535, got 70000" in capsys.readouterr().err


def test_an_unusable_setting_is_a_usage_error_naming_the_variable(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        run(["--delay", "-1"])
    assert exited.value.code == 2
    err = capsys.readouterr().err
    assert "FLOSSPAY_DEMO_DELAY must be a number of seconds >= 0" in err
    assert "Traceback" not in err


def test_a_port_in_use_is_a_one_line_error_and_the_signal_handlers_are_restored(
    capsys: pytest.CaptureFixture[str],
) -> None:
    before = signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        assert run(["--port", str(port)]) == 1
    assert f"error: cannot listen on 127.0.0.1:{port}" in capsys.readouterr().err
    assert (signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)) == before


def test_help_names_each_options_environment_variable(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        run(["--help"])
    assert exited.value.code == 0
    out = capsys.readouterr().out
    assert "demo-sandbox" in out
    assert "how long to wait (env FLOSSPAY_DEMO_DELAY)" in out
