"""Fault case 7: an outcome that cannot be recorded (an injected failing ledger write).

Bounded attempts, dead-lettered with the rail's answer kept (never FAILED: the money moved), visible
to the operator, and once the cause is fixed a requeue records it once with no second debit.
"""

from __future__ import annotations

import json
import time

import httpx
import pytest
import sqlalchemy

from tests.e2e.processes import run_cli, wait_for
from tests.faults.conftest import FaultStack, assert_settled, payment_requests, post_all, record

pytestmark = [pytest.mark.faults, pytest.mark.postgres, pytest.mark.redis, pytest.mark.slow]

INJECT = """
CREATE FUNCTION faults_refuse_posting() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF NEW.account LIKE '%%norecord%%' THEN RAISE EXCEPTION 'injected ledger write failure'; END IF;
  RETURN NEW;
END $$;
CREATE TRIGGER faults_refuse BEFORE INSERT ON ledger_postings FOR EACH ROW EXECUTE FUNCTION faults_refuse_posting();
"""
FIX = "DROP TRIGGER faults_refuse ON ledger_postings; DROP FUNCTION faults_refuse_posting();"


def _sql(stack: FaultStack, statement: str) -> list[tuple]:
    engine = sqlalchemy.create_engine(stack.database_url, poolclass=sqlalchemy.pool.NullPool)
    try:
        with engine.begin() as connection:
            result = connection.exec_driver_sql(statement)
            return [tuple(row) for row in result] if result.returns_rows else []
    finally:
        engine.dispose()


def test_an_unrecordable_outcome_is_dead_lettered_then_requeued_once(stack: FaultStack) -> None:
    _sql(stack, INJECT)
    _, api_url = stack.start_api()
    stack.start_worker()
    client = stack.client()
    bad = client.post("/api/v1/pay", {"senderUpi": "alice@upi", "receiverUpi": "norecord@upi", "amount": "5.00"}, "x")
    assert bad.status_code == 200, bad.text
    bad_id = bad.json()["id"]
    others = post_all([client], payment_requests(20, "ok", kinds=("",)))
    started = time.monotonic()
    wait_for(
        lambda: _sql(stack, f"SELECT parked_at FROM payments WHERE id = '{bad_id}'")[0][0] is not None,
        60,
        "the unrecordable payment to be dead-lettered",
        interval=0.25,
    )
    parked_after = time.monotonic() - started
    [(status, reason)] = _sql(stack, f"SELECT status, parked_reason FROM payments WHERE id = '{bad_id}'")
    attempts = _sql(stack, f"SELECT outcome, code FROM rail_attempts WHERE payment_id = '{bad_id}' ORDER BY number")
    assert status == "PROCESSING", "money moved: it must never be shown as FAILED"
    assert len(attempts) == 10, attempts  # FLOSSPAY_MAX_ATTEMPTS, every one counted
    assert all(outcome == "COMPLETED" for outcome, _ in attempts), attempts  # the rail's answer kept
    assert "recording the outcome failed" in reason
    debits = [d for d in stack.debits() if d["reference"] == bad_id]
    assert len(debits) == 1
    # Visible to the operator: the CLI, readiness, and ledger verify does not say OK.
    listed = json.loads(run_cli(["dead-letters", "list", "--json"], stack.env).stdout)
    assert [(v["paymentId"], v["status"]) for v in listed] == [(bad_id, "PROCESSING")]
    ready = httpx.get(f"{api_url}/health/ready", timeout=5)
    assert "dead letters: 1" in ready.text.splitlines()
    assert run_cli(["ledger", "verify", "--quiet"], stack.env).returncode == 1
    time.sleep(3.0)  # past lease + backoff and the stalled sweep's 3 s: no path picks it up again
    assert len(_sql(stack, f"SELECT 1 FROM rail_attempts WHERE payment_id = '{bad_id}'")) == 10

    _sql(stack, FIX)  # the cause is fixed
    first = run_cli(["dead-letters", "requeue", "--all"], stack.env).stdout.strip()
    second = run_cli(["dead-letters", "requeue", "--all"], stack.env).stdout.strip()
    assert first.startswith("requeued 1 payment(s)") and second.startswith("requeued 0 payment(s)")
    recovered = stack.wait_all_final({bad_id}, 30)
    assert stack.statuses()[bad_id] == "COMPLETED"
    figures = assert_settled(stack, {bad_id, *others.values()})
    record(
        "7-unrecordable-outcome",
        **figures,
        attempts_before_dead_letter=len(attempts),
        dead_lettered_after_s=round(parked_after, 1),
        recorded_after_requeue_s=round(recovered, 1),
        debits_of_that_payment=len([d for d in stack.debits() if d["reference"] == bad_id]),
    )
