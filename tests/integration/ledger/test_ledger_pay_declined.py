"""A push payment the customer declines or lets expire (net banking's redirect) ends DECLINED or EXPIRED,
and the chain holding it verifies, in the database and exported, offline."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from flosspay.adapters.cli.main import main
from flosspay.adapters.persistence.unit_of_work import SqlUnitOfWorkFactory
from flosspay.domain.payment import PaymentStatus
from flosspay.domain.rail import Outcome, RailResult
from tests.integration.ledger.support import LedgerWorld

pytestmark = pytest.mark.integration


def test_declined_and_expired_push_payments_verify_offline(
    database_url: str,
    uow_factory: SqlUnitOfWorkFactory,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    for name in [n for n in os.environ if n.startswith("FLOSSPAY_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("FLOSSPAY_DATABASE_URL", database_url)
    monkeypatch.setenv("FLOSSPAY_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("FLOSSPAY_STALL_AFTER_SECONDS", "1e9")
    world = LedgerWorld(uow_factory)
    action = RailResult(Outcome.ACTION_REQUIRED, "PENDING_CUSTOMER", "waiting at the bank")
    finals = {}
    for outcome, code in ((Outcome.PAYER_DECLINED, "CUSTOMER_DECLINED"), (Outcome.EXPIRED, "SESSION_EXPIRED")):
        payment_id = world.accept(1250)
        world.process(payment_id, action)
        world.process(payment_id, RailResult(outcome, code, "the customer did not pay"))
        with uow_factory() as uow:
            payment = uow.payments.get(payment_id)
            assert payment is not None
            finals[code] = (payment.status, payment.failure_code, [h.to_status for h in payment.history])
    assert finals["CUSTOMER_DECLINED"][:2] == (PaymentStatus.DECLINED, "CUSTOMER_DECLINED")
    assert finals["SESSION_EXPIRED"][:2] == (PaymentStatus.EXPIRED, "SESSION_EXPIRED")
    assert finals["SESSION_EXPIRED"][2][-3:] == [
        PaymentStatus.ACTION_REQUIRED,
        PaymentStatus.PROCESSING,
        PaymentStatus.EXPIRED,
    ]
    world.chain()
    assert world.verify().ok

    export = tmp_path / "ledger.jsonl"
    assert main(["ledger", "export", str(export)]) == 0
    capsys.readouterr()
    done = subprocess.run(
        [sys.executable, "-m", "flosspay.ledger_verify", str(export)],
        capture_output=True,
        text=True,
        env={"PATH": os.environ.get("PATH", "")},
        cwd=tmp_path,
        timeout=60,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "ledger OK: 10 records" in done.stdout, done.stdout
