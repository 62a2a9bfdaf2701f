"""``flosspay worker --processes N``: one parent supervising N worker processes, each with its threads.

Why processes: one CPython process is held to about one core by the GIL (issue 15: one worker sat at
~85% of a core); N processes use N cores. Each child is a whole ``flosspay worker --processes 1``
(its own Dramatiq threads, outbox relay, chainer and webhook loop); they coordinate through the
database only (the relay's ``FOR UPDATE SKIP LOCKED``, the chainer's lock, payment leases), as
separate worker machines do. See ADR 0016.

The policy (documented in docs/operations.md):
- SIGTERM or SIGINT to the parent: SIGTERM to every child, each stops gracefully (in-flight messages
  finish), a child still running after ``stop_timeout_s`` is SIGKILLed; the parent exits 0.
- A child that exits without being asked to is restarted at once, and the restart is logged. More than
  ``max_restarts`` restarts within ``restart_window_s`` means restarting does not help (a setting, a
  missing service): the parent stops the others and exits 1, so the service manager sees the failure.
- The parent dying (even SIGKILL) kills the children (Linux ``PR_SET_PDEATHSIG``): no orphan keeps
  taking messages after its supervisor is gone, and a hard kill stays a hard kill.
"""

from __future__ import annotations

import collections
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from types import FrameType

logger = logging.getLogger("flosspay.worker")

DEFAULT_MAX_RESTARTS = 5
DEFAULT_RESTART_WINDOW_S = 60.0
PARENT_PID_ENV = "FLOSSPAY_WORKER_PARENT_PID"

ChildFactory = Callable[[int], "subprocess.Popen[bytes]"]


def default_processes() -> int:
    """The cores this process may run on (a container's CPU set, not the host's count)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not Linux
        return max(1, os.cpu_count() or 1)


def die_with_parent() -> None:
    """In a child: be SIGKILLed when the supervising parent dies (Linux only; elsewhere a no-op)."""
    parent = os.environ.get(PARENT_PID_ENV)
    if not parent or not sys.platform.startswith("linux"):
        return
    import ctypes

    pr_set_pdeathsig = 1
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(pr_set_pdeathsig, signal.SIGKILL, 0, 0, 0)
    if os.getppid() != int(parent):  # the parent died before prctl took effect
        os._exit(1)


def child_command(threads: int | None) -> list[str]:
    """The command line of one child: this FlossPay's ``worker`` command with one process."""
    command = [sys.executable, "-m", "flosspay.adapters.cli.main", "worker", "--processes", "1"]
    return command + (["--threads", str(threads)] if threads else [])


def spawn_child(command: Sequence[str], env: dict[str, str]) -> ChildFactory:
    """Start children with ``command``, sharing the parent's stdout/stderr (one log stream)."""

    def start(index: int) -> subprocess.Popen[bytes]:
        child_env = dict(env, **{PARENT_PID_ENV: str(os.getpid()), "FLOSSPAY_WORKER_INDEX": str(index)})
        return subprocess.Popen(list(command), env=child_env)  # noqa: S603 (our own interpreter and module)

    return start


class Supervisor:
    """Keeps ``count`` children running until told to stop; see the module docstring for the policy."""

    def __init__(
        self,
        count: int,
        start_child: ChildFactory,
        *,
        max_restarts: int = DEFAULT_MAX_RESTARTS,
        restart_window_s: float = DEFAULT_RESTART_WINDOW_S,
        stop_timeout_s: float = 35.0,
        poll_s: float = 0.2,
        on_child_exit: Callable[[int], None] | None = None,
    ) -> None:
        """``on_child_exit(pid)``: called for every child that is gone (metrics clean-up)."""
        if count < 1:
            raise ValueError("count must be at least 1")
        self.count = count
        self.start_child = start_child
        self.max_restarts = max_restarts
        self.restart_window_s = restart_window_s
        self.stop_timeout_s = stop_timeout_s
        self.poll_s = poll_s
        self.on_child_exit = on_child_exit
        self.children: dict[int, subprocess.Popen[bytes]] = {}
        self.restarts: collections.deque[float] = collections.deque()

    def pids(self) -> list[int]:
        return [child.pid for child in self.children.values()]

    def run(self, stop: threading.Event) -> int:
        """Start the children, watch them until ``stop`` is set, stop them; returns the exit code."""
        try:
            for index in range(self.count):
                self.children[index] = self.start_child(index)
            logger.info("worker supervisor %d: started %d processes %s", os.getpid(), self.count, self.pids())
            while not stop.wait(self.poll_s):
                if not self._replace_dead():
                    return 1
            return 0
        finally:
            self._stop_all()

    def _replace_dead(self) -> bool:
        """Restart every child that exited; False when they die too often to go on."""
        now = time.monotonic()
        for index, child in list(self.children.items()):
            code = child.poll()
            if code is None:
                continue
            self._gone(child.pid)
            while self.restarts and now - self.restarts[0] > self.restart_window_s:
                self.restarts.popleft()
            if len(self.restarts) >= self.max_restarts:
                logger.error(
                    "worker process %d exited (%s); %d restarts in %.0f s: giving up, stopping the others",
                    child.pid,
                    _describe_exit(code),
                    len(self.restarts),
                    self.restart_window_s,
                )
                del self.children[index]
                return False
            self.restarts.append(now)
            self.children[index] = self.start_child(index)
            logger.warning(
                "worker process %d exited (%s); restarted as %d",
                child.pid,
                _describe_exit(code),
                self.children[index].pid,
            )
        return True

    def _stop_all(self) -> None:
        children = list(self.children.values())
        self.children.clear()
        for child in children:
            if child.poll() is None:
                child.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + self.stop_timeout_s
        for child in children:
            try:
                child.wait(max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                logger.error("worker process %d did not stop in %.0f s; killing it", child.pid, self.stop_timeout_s)
                child.kill()
                child.wait()
            self._gone(child.pid)

    def _gone(self, pid: int) -> None:
        if self.on_child_exit is not None:
            self.on_child_exit(pid)


def _describe_exit(code: int) -> str:
    if code < 0:
        try:
            return f"killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"killed by signal {-code}"
    return f"exit code {code}"


def run_supervisor(supervisor: Supervisor) -> int:
    """Run ``supervisor`` in the main thread until SIGTERM/SIGINT; returns its exit code."""
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        logger.info("received %s, stopping %d worker processes", signal.Signals(signum).name, supervisor.count)
        stop.set()

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        return supervisor.run(stop)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
