"""`flosspay refunds list|show`, as an operator runs them: tables, --json, one-line errors."""

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
from flosspay.domain.refund import Refund

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


def _store(env: dict[str, str]) -> tuple[uuid.UUID, uuid.UUID, uuid.UUID]:
    """A completed payment with one refund that failed and one that is pending."""
    engine = create_engine(f"sqlite:///{Path(env['FLOSSPAY_DATA_DIR']) / 'flosspay.db'}")
    now = datetime.now(UTC)
    payment = Payment.accept(
        id=uuid.uuid4(),
        client_id="cl_1",
        flow=Flow.PAY,
        method="UPI",
        rail="upi",
        amount=Money(10_000, "INR"),
        details={},
        public={},
        note=None,
        now=now,
    )
    payment.claim("w", now, now)
    payment.complete(now, "ok", None)
    failed = Refund.request(id=uuid.uuid4(), payment=payment, amount=Money(2_500, "INR"), reason="broken", now=now)
    failed.claim("w", now, now + timedelta(seconds=30))
    number = failed.start_attempt(now).number
    failed.finish_attempt(number, AttemptOutcome.DECLINED, "U30", "bank refused", now)
    failed.fail("U30", "bank refused", now, number)
    later = now + timedelta(seconds=1)
    pending = Refund.request(id=uuid.uuid4(), payment=payment, amount=Money(1_000, "INR"), reason=None, now=later)
    with SqlUnitOfWorkFactory(engine)() as uow:
        uow.payments.add(payment)
        uow.refunds.add(failed)
        uow.refunds.add(pending)
        uow.commit()
    engine.dispose()
    return payment.id, failed.id, pending.id


def test_list_and_show(env: dict[str, str]) -> None:
    pid, failed, pending = _store(env)
    listed = json.loads(run("refunds", "list", "--payment", str(pid), "--json", env=env).stdout)
    assert [(v["id"], v["status"], v["amount"]) for v in listed] == [
        (str(failed), "FAILED", "25.00"),
        (str(pending), "PENDING", "10.00"),
    ]
    table = run("refunds", "list", "--payment", str(pid), env=env).stdout.splitlines()
    assert table[0].split()[:3] == ["REFUND", "STATUS", "AMOUNT"] and str(failed) in table[1] and "broken" in table[1]
    shown = json.loads(run("refunds", "show", str(failed), "--json", env=env).stdout)
    assert (shown["status"], shown["failureCode"], shown["paymentId"]) == ("FAILED", "U30", str(pid))
    assert [h["to"] for h in shown["history"]] == ["PENDING", "PROCESSING", "FAILED"]
    assert [(a["outcome"], a["code"]) for a in shown["attemptLog"]] == [("DECLINED", "U30")]
    text = run("refunds", "show", str(pending), env=env)
    assert text.returncode == 0 and "status: PENDING" in text.stdout
    assert json.loads(run("refunds", "list", "--parked", "--json", env=env).stdout) == []
    assert run("refunds", "requeue", str(pending), env=env).stdout.strip() == "requeued 0 refund(s)"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("refunds", "show", "nope"), "refund 'nope' is not a UUID"),
        (("refunds", "show", "00000000-0000-0000-0000-000000000001"), "no refund"),
        (("refunds", "list", "--payment", "x"), "payment 'x' is not a UUID"),
        (("refunds", "list"), "give --payment ID, or --parked"),
        (("refunds", "requeue", "x"), "refund 'x' is not a UUID"),
        (("refunds", "list", "--payment", "00000000-0000-0000-0000-000000000001"), "no payment"),
    ],
)
def test_errors_are_one_line(env: dict[str, str], args: tuple[str, ...], message: str) -> None:
    result = run(*args, env=env)
    assert result.returncode == 1 and result.stdout == ""
    assert result.stderr.startswith("flosspay: error: ") and message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and "Traceback" not in result.stderr


def test_a_parked_refund_is_a_dead_letter_like_a_parked_payment(env: dict[str, str]) -> None:
    """Listed by `dead-letters list`, fails `ledger verify` (visibly waiting), requeued by `dead-letters requeue`."""
    pid, _, pending = _store(env)
    engine = create_engine(f"sqlite:///{Path(env['FLOSSPAY_DATA_DIR']) / 'flosspay.db'}")
    now = datetime.now(UTC)
    with SqlUnitOfWorkFactory(engine)() as uow:
        refund = uow.refunds.get(pending)
        assert refund is not None
        refund.claim("w", now, now + timedelta(seconds=30))
        number = refund.start_attempt(now).number
        refund.finish_attempt(number, AttemptOutcome.UNCERTAIN, None, "psp timed out", now)
        refund.park("5 attempts without a recorded outcome", now)
        uow.refunds.save(refund)
        uow.commit()
    engine.dispose()
    listed = json.loads(run("dead-letters", "list", "--json", env=env).stdout)
    assert [(v["kind"], v["refundId"], v["paymentId"]) for v in listed] == [("refund", str(pending), str(pid))]
    assert run("dead-letters", "show", str(pending), "--json", env=env).returncode == 0
    verified = run("ledger", "verify", env=env)
    assert verified.returncode == 1 and "1 refund(s) dead-lettered" in verified.stdout
    requeued = run("dead-letters", "requeue", str(pending), env=env)
    assert requeued.stdout.strip() == "requeued 0 payment(s), 1 refund(s) and 0 message(s)"
    assert json.loads(run("dead-letters", "list", "--json", env=env).stdout) == []
