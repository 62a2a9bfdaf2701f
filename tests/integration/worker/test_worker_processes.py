"""The worker supervisor's policy with real child processes (stand-ins for ``flosspay worker``):
restart a dead child, give up (exit 1) when children keep dying, SIGTERM then SIGKILL on stop."""

from __future__ import annotations

import subprocess
import sys
import threading
import time

import pytest

from flosspay.adapters.worker.processes import Supervisor, child_command, default_processes

from .support import wait_for

pytestmark = [pytest.mark.integration]

SLEEPER = [sys.executable, "-c", "import time; time.sleep(120)"]
STUBBORN = [
    sys.executable,
    "-c",
    "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); print('up', flush=True); time.sleep(120)",
]


def starter(command: list[str], started: list[subprocess.Popen[bytes]]):  # type: ignore[no-untyped-def]
    def start(index: int) -> subprocess.Popen[bytes]:
        child = subprocess.Popen(command, stdout=subprocess.PIPE)
        started.append(child)
        return child

    return start


def run_in_thread(supervisor: Supervisor, stop: threading.Event) -> tuple[threading.Thread, list[int]]:
    result: list[int] = []
    thread = threading.Thread(target=lambda: result.append(supervisor.run(stop)), daemon=True)
    thread.start()
    return thread, result


def test_a_dead_child_is_restarted_and_stop_ends_every_child() -> None:
    started: list[subprocess.Popen[bytes]] = []
    gone: list[int] = []
    supervisor = Supervisor(2, starter(SLEEPER, started), poll_s=0.05, on_child_exit=gone.append)
    stop = threading.Event()
    thread, result = run_in_thread(supervisor, stop)
    wait_for(lambda: len(started) == 2, what="two children")
    started[0].kill()
    wait_for(lambda: len(started) == 3, what="the replacement")
    assert started[0].pid in gone
    assert sorted(supervisor.pids()) == sorted([started[1].pid, started[2].pid])
    stop.set()
    thread.join(10)
    assert result == [0]
    assert all(child.poll() is not None for child in started)
    assert {c.pid for c in started} <= set(gone)


def test_children_that_keep_dying_make_the_supervisor_give_up_with_exit_1() -> None:
    started: list[subprocess.Popen[bytes]] = []
    crasher = [sys.executable, "-c", "raise SystemExit(3)"]
    supervisor = Supervisor(1, starter(crasher, started), max_restarts=3, restart_window_s=60, poll_s=0.05)
    stop = threading.Event()
    thread, result = run_in_thread(supervisor, stop)
    thread.join(30)
    assert result == [1]
    assert len(started) == 4  # the first and three restarts
    assert not stop.is_set()


def test_a_child_that_ignores_sigterm_is_killed_after_the_stop_timeout() -> None:
    started: list[subprocess.Popen[bytes]] = []
    supervisor = Supervisor(1, starter(STUBBORN, started), stop_timeout_s=1.0, poll_s=0.05)
    stop = threading.Event()
    thread, result = run_in_thread(supervisor, stop)
    wait_for(lambda: bool(started), what="the child")
    assert started[0].stdout is not None and started[0].stdout.readline() == b"up\n"
    began = time.monotonic()
    stop.set()
    thread.join(10)
    assert result == [0]
    assert started[0].returncode == -9
    assert 0.9 <= time.monotonic() - began < 5


def test_child_command_is_one_process_of_this_interpreter_and_defaults_follow_the_cores() -> None:
    assert child_command(3) == [
        sys.executable,
        "-m",
        "flosspay.adapters.cli.main",
        "worker",
        "--processes",
        "1",
        "--threads",
        "3",
    ]
    assert default_processes() >= 1
    with pytest.raises(ValueError, match="at least 1"):
        Supervisor(0, starter(SLEEPER, []))
