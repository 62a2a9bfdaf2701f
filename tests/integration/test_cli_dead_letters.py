"""`flosspay dead-letters list|show|requeue` and the stuck-payment report of `ledger verify`, as a user runs them."""

import json
import os
import subprocess
import sys
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from flosspay.adapters.persistence.engine import create_engine
from flosspay.adapters.persistence.unit_of_work import SqlUnitOfWorkFactory
from flosspay.domain.money import Money
from flosspay.domain.payment import AttemptOutcome, Flow, Payment

pytestmark = pytest.mark.integration
FLOSSPAY = str(Path(sys.executable).parent / "flosspay")


def run(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([FLOSSPAY, *args], env=env, capture_output=True, text=True, timeout=60)


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("FLOSSPAY_")}
    env = clean | {"FLOSSPAY_DATA_DIR": str(tmp_path / "data")}
    assert run("db", "upgrade", env=env).returncode == 0
    return env


def _store(env: dict[str, str], *, parked: bool, age: timedelta = timedelta(0)) -> uuid.UUID:
    engine = create_engine(f"sqlite:///{Path(env['FLOSSPAY_DATA_DIR']) / 'flosspay.db'}")
    now = datetime.now(UTC) - age
    payment = Payment.accept(
        id=uuid.uuid4(),
        client_id="cl_1",
        flow=Flow.PAY,
        method="UPI",
        rail="upi",
        amount=Money(12_345, "INR"),
        details={"senderUpi": "alice@upi", "receiverUpi": "bob@upi"},
        public={},
        note=None,
        now=now,
    )
    payment.claim("w1", now, now + timedelta(seconds=30))
    attempt = payment.start_attempt(now)
    if parked:
        payment.finish_attempt(attempt.number, AttemptOutcome.COMPLETED, "00", "approved; recording failed", now)
        payment.park("1 attempts without a recorded outcome; last: rail answered COMPLETED 00", now)
    with SqlUnitOfWorkFactory(engine)() as uow:
        uow.payments.add(payment)
        uow.commit()
    engine.dispose()
    return payment.id


def test_list_show_and_requeue_twice(env):
    pid = _store(env, parked=True)
    listed = json.loads(run("dead-letters", "list", "--json", env=env).stdout)
    assert [(v["kind"], v["paymentId"], v["status"], v["attempts"]) for v in listed] == [
        ("payment", str(pid), "PROCESSING", 1)
    ]
    table = run("dead-letters", "list", env=env).stdout.splitlines()
    assert table[0].split()[:3] == ["KIND", "PAYMENT", "STATUS"] and str(pid) in table[1]
    shown = json.loads(run("dead-letters", "show", str(pid), "--json", env=env).stdout)
    assert shown["lastError"].startswith("1 attempts without a recorded outcome")
    assert [(a["number"], a["outcome"], a["code"]) for a in shown["attemptLog"]] == [(1, "COMPLETED", "00")]
    # Readiness-style verification refuses to call this "OK" while it waits for an operator.
    verify = run("ledger", "verify", "--quiet", env=env)
    assert verify.returncode == 1 and "1 payment(s) dead-lettered" in verify.stdout

    refused = run("dead-letters", "requeue", env=env)
    assert refused.returncode == 1 and refused.stderr.strip() == "flosspay: error: give one dead letter's ID, or --all"
    first = run("dead-letters", "requeue", "--all", env=env)
    assert first.stdout.strip() == "requeued 1 payment(s), 0 refund(s) and 0 message(s)"
    second = run("dead-letters", "requeue", "--all", env=env)
    assert second.stdout.strip() == "requeued 0 payment(s), 0 refund(s) and 0 message(s)"
    assert run("dead-letters", "list", env=env).stdout.strip() == "none"
    missing = run("dead-letters", "show", str(pid), env=env)
    assert missing.returncode == 1 and "no dead letter" in missing.stderr and "Traceback" not in missing.stderr


def test_ledger_verify_reports_a_payment_nothing_is_carrying(env):
    assert run("ledger", "verify", "--quiet", env=env).returncode == 0
    pid = _store(env, parked=False, age=timedelta(hours=3))
    verify = run("ledger", "verify", "--quiet", env=env)
    assert verify.returncode == 1, verify.stdout + verify.stderr
    assert f"STUCK: payment {pid} is PROCESSING" in verify.stdout
    assert run("ledger", "verify", "--quiet", "--stuck-after", "86400", env=env).returncode == 0
