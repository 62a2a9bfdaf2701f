"""``flosspay worker --processes 2`` as a real process tree: both children take payments, a child that
is SIGKILLed is replaced, SIGTERM to the parent stops every child and exits 0 (ADR 0016)."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest

from tests.e2e.conftest import Stack
from tests.e2e.processes import FLOSSPAY, wait_for

pytestmark = [pytest.mark.e2e, pytest.mark.postgres, pytest.mark.redis, pytest.mark.slow]

BODY = {"senderUpi": "alice@upi", "receiverUpi": "bob@upi", "amount": "12.00", "note": "processes"}


def children(pid: int) -> set[int]:
    """Live child processes of ``pid`` (from /proc; zombies left out)."""
    found = set()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()
        if int(fields[1]) == pid and fields[0] != "Z":
            found.add(int(entry.name))
    return found


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] if Path(f"/proc/{pid}").exists() else "Z"
    return state != "Z"


def test_two_worker_processes_share_the_work_survive_a_dead_child_and_stop_together(stack: Stack) -> None:
    next(p for p in stack.procs if p.name == "worker").stop()
    parent = stack.start("workers", [FLOSSPAY, "worker", "--processes", "2", "--threads", "2"])
    first = wait_for(lambda: len(c := children(parent.popen.pid)) == 2 and c, 20, "two worker processes")

    ids = [stack.client.post("/api/v1/pay", BODY, key=f"proc-{i}").json()["id"] for i in range(12)]
    for payment_id in ids:
        assert stack.client.wait_final(payment_id)["status"] == "COMPLETED"
        assert len(stack.debits(payment_id)) == 1
    wait_for(lambda: parent.output().count("started: 2 threads") >= 2, 10, "both children to report started")

    victim = sorted(first)[0]
    os.kill(victim, signal.SIGKILL)
    replaced = wait_for(
        lambda: len(c := children(parent.popen.pid)) == 2 and victim not in c and c, 20, "the dead child's replacement"
    )
    assert f"worker process {victim} exited (killed by SIGKILL); restarted as" in parent.output()
    wait_for(lambda: parent.output().count("started: 2 threads") >= 3, 20, "the replacement to report started")
    after = stack.client.post("/api/v1/pay", BODY, key="proc-after-kill").json()["id"]
    assert stack.client.wait_final(after)["status"] == "COMPLETED"

    parent.popen.send_signal(signal.SIGTERM)
    assert parent.popen.wait(45) == 0
    assert not any(alive(pid) for pid in replaced), "every child stops with its parent"
    assert parent.output().count("stopped") >= 2


def test_parent_killed_hard_takes_its_children_with_it(stack: Stack) -> None:
    next(p for p in stack.procs if p.name == "worker").stop()
    parent = stack.start("workers", [FLOSSPAY, "worker", "--processes", "2", "--threads", "1"])
    kids = wait_for(lambda: len(c := children(parent.popen.pid)) == 2 and c, 20, "two worker processes")
    parent.kill()
    wait_for(lambda: not any(alive(pid) for pid in kids), 10, "the orphaned children to die")


def niceness(pid: int) -> int:
    return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[16])


def test_worker_niceness_applies_to_the_parent_and_each_child_once(stack: Stack) -> None:
    """FLOSSPAY_WORKER_NICE: the API keeps the CPU first on a shared machine; children are not niced twice."""
    from tests.e2e.processes import Proc

    next(p for p in stack.procs if p.name == "worker").stop()
    env = dict(stack.env, FLOSSPAY_WORKER_NICE="7")
    parent = Proc("nice-workers", [FLOSSPAY, "worker", "--processes", "2", "--threads", "2"], env, stack.log_dir)
    stack.procs.append(parent)
    kids = wait_for(lambda: len(c := children(parent.popen.pid)) == 2 and c, 20, "two worker processes")
    payment_id = stack.client.post("/api/v1/pay", BODY, key="nice-1").json()["id"]
    assert stack.client.wait_final(payment_id)["status"] == "COMPLETED"
    assert niceness(parent.popen.pid) == 7
    assert {niceness(pid) for pid in kids} == {7}
