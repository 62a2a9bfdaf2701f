import uuid
from datetime import UTC, datetime, timedelta

import pytest

from flosspay.domain.errors import IllegalTransition, PaymentBusy
from flosspay.domain.money import Money
from flosspay.domain.payment import (
    FINAL_STATUSES,
    TRANSITIONS,
    AttemptOutcome,
    Flow,
    Payment,
    PaymentStatus,
    is_legal,
    is_legal_path,
)

pytestmark = pytest.mark.unit

T0 = datetime(2026, 1, 1, 12, tzinfo=UTC)
S = PaymentStatus


def make(flow: Flow = Flow.PAY) -> Payment:
    return Payment.accept(
        id=uuid.uuid4(),
        client_id="c1",
        flow=flow,
        method="UPI",
        rail="upi",
        amount=Money(2800, "INR"),
        details={"senderUpi": "a@upi"},
        public={},
        note=None,
        now=T0,
        expires_at=T0 + timedelta(minutes=30) if flow is Flow.COLLECT else None,
    )


def test_accept_starts_in_flow_status_with_history():
    pay, collect = make(Flow.PAY), make(Flow.COLLECT)
    assert pay.status is S.QUEUED and collect.status is S.REQUESTED
    assert [(h.from_status, h.to_status, h.reason) for h in pay.history] == [(None, S.QUEUED, "accepted")]
    assert pay.new_history == pay.history
    assert pay.version == 1 and pay.created_at == pay.updated_at == T0
    assert not pay.is_final and not pay.may_have_reached_rail


def test_pay_happy_path():
    p = make()
    p.claim("w1", T0, T0 + timedelta(seconds=30))
    assert p.status is S.PROCESSING and p.lease_owner == "w1" and p.lease_expires_at == T0 + timedelta(seconds=30)
    p.complete(T0 + timedelta(seconds=1), "ok", 1)
    assert p.status is S.COMPLETED and p.is_final
    assert p.lease_owner is None and p.lease_expires_at is None
    assert [h.to_status for h in p.history] == [S.QUEUED, S.PROCESSING, S.COMPLETED]
    assert p.history[-1].attempt == 1 and p.history[-1].from_status is S.PROCESSING
    assert p.updated_at == T0 + timedelta(seconds=1)


def test_fail_records_code_and_reason():
    p = make()
    p.claim("w1", T0, T0)
    p.fail("Z9", "insufficient funds", T0, 2)
    assert (p.status, p.failure_code, p.failure_reason) == (S.FAILED, "Z9", "insufficient funds")
    assert p.history[-1].reason == "insufficient funds" and p.lease_owner is None


@pytest.mark.parametrize("method", ["complete", "fail", "decline", "expire", "require_action"])
def test_cannot_finish_before_processing(method):
    p = make(Flow.COLLECT)
    args = (T0, "r", 1) if method == "complete" else ("C", "r", T0, 1)
    if method == "require_action":
        args = ("r", T0, 1)
    with pytest.raises(IllegalTransition):
        getattr(p, method)(*args)
    assert p.status is S.REQUESTED and len(p.history) == 1


def test_collect_outcomes():
    for method, status in (("decline", S.DECLINED), ("expire", S.EXPIRED), ("fail", S.FAILED)):
        p = make(Flow.COLLECT)
        p.claim("w", T0, T0)
        getattr(p, method)("ZA", "why", T0, 1)
        assert p.status is status and p.failure_code == "ZA" and p.failure_reason == "why"
        assert p.lease_owner is None


@pytest.mark.parametrize(("method", "status"), [("decline", S.DECLINED), ("expire", S.EXPIRED)])
def test_pay_is_declined_or_expired_only_while_processing(method, status):
    """A customer sent to act (a bank's page) may refuse or never answer; a queued payment is not theirs yet."""
    queued = make(Flow.PAY)
    with pytest.raises(IllegalTransition):
        getattr(queued, method)("CUSTOMER_DECLINED", "no", T0, 1)
    p = make(Flow.PAY)
    p.claim("w", T0, T0)
    getattr(p, method)("CUSTOMER_DECLINED", "no", T0, 1)
    assert p.status is status and p.failure_code == "CUSTOMER_DECLINED" and p.lease_owner is None


def test_final_payment_cannot_change_or_be_claimed():
    p = make()
    p.claim("w", T0, T0)
    p.complete(T0, "ok", 1)
    with pytest.raises(IllegalTransition):
        p.fail("X", "x", T0, 1)
    with pytest.raises(IllegalTransition, match="already COMPLETED"):
        p.claim("w", T0, T0)


def test_live_lease_of_another_worker_refuses_claim():
    p = make()
    p.claim("w1", T0, T0 + timedelta(seconds=30))
    with pytest.raises(PaymentBusy):
        p.claim("w2", T0 + timedelta(seconds=29), T0 + timedelta(seconds=60))
    p.claim("w2", T0 + timedelta(seconds=31), T0 + timedelta(seconds=61))
    assert p.lease_owner == "w2" and p.status is S.PROCESSING
    assert [h.to_status for h in p.history].count(S.PROCESSING) == 1


def test_lease_expiring_exactly_now_is_free_and_same_worker_may_reclaim():
    p = make()
    p.claim("w1", T0, T0 + timedelta(seconds=30))
    p.claim("w1", T0 + timedelta(seconds=1), T0 + timedelta(seconds=40))
    assert p.lease_expires_at == T0 + timedelta(seconds=40)
    p.claim("w2", T0 + timedelta(seconds=40), T0 + timedelta(seconds=70))
    assert p.lease_owner == "w2"


def test_released_payment_is_claimable_by_anyone():
    p = make()
    p.claim("w1", T0, T0 + timedelta(seconds=30))
    p.release(T0 + timedelta(seconds=1))
    assert p.lease_owner is None and p.updated_at == T0 + timedelta(seconds=1)
    p.claim("w2", T0 + timedelta(seconds=2), T0 + timedelta(seconds=30))
    assert p.lease_owner == "w2"


def test_action_required_round_trip():
    p = make()
    p.claim("w", T0, T0)
    p.require_action("3ds", T0, 1)
    assert p.status is S.ACTION_REQUIRED and p.lease_owner is None
    p.claim("w", T0, T0)
    assert p.status is S.PROCESSING
    assert p.history[-1].reason == "customer action resolved"


def test_attempts_are_numbered_and_counted():
    p = make()
    a1 = p.start_attempt(T0)
    assert (a1.number, a1.outcome, a1.action) == (1, AttemptOutcome.STARTED, "execute")
    assert p.may_have_reached_rail and p.transient_failures() == 1
    p.finish_attempt(1, AttemptOutcome.TRANSIENT, "UP", "timeout", T0 + timedelta(seconds=1))
    a2 = p.start_attempt(T0, "status")
    p.finish_attempt(2, AttemptOutcome.UNCERTAIN, "RB", "deemed", T0)
    a3 = p.start_attempt(T0, "status")
    p.finish_attempt(3, AttemptOutcome.COMPLETED, "00", None, T0)
    assert (a2.number, a3.number) == (2, 3)
    assert p.transient_failures() == 2
    assert p.attempts[0].code == "UP" and p.attempts[0].finished_at == T0 + timedelta(seconds=1)
    assert p.touched_attempts == {1, 2, 3}
    p.mark_saved()
    assert p.touched_attempts == set() and p.new_history == []


def test_polling_a_waiting_request_continues_the_same_attempt():
    p = make(Flow.COLLECT)
    p.start_attempt(T0)
    p.finish_attempt(1, AttemptOutcome.PENDING, None, None, T0)
    p.mark_saved()
    again = p.start_attempt(T0, "status")
    assert again.number == 1 and len(p.attempts) == 1 and p.touched_attempts == {1}
    assert p.start_attempt(T0, "execute").number == 2


def test_declined_attempts_are_not_transient():
    p = make()
    for outcome in (
        AttemptOutcome.DECLINED,
        AttemptOutcome.COMPLETED,
        AttemptOutcome.PENDING,
        AttemptOutcome.PAYER_DECLINED,
        AttemptOutcome.EXPIRED,
        AttemptOutcome.ACTION_REQUIRED,
    ):
        n = p.start_attempt(T0).number
        p.finish_attempt(n, outcome, None, None, T0)
    assert p.transient_failures() == 0


def test_transition_table_is_exactly_the_documented_machine():
    assert TRANSITIONS[Flow.PAY] == {
        (None, S.QUEUED),
        (S.QUEUED, S.PROCESSING),
        (S.PROCESSING, S.COMPLETED),
        (S.PROCESSING, S.FAILED),
        (S.PROCESSING, S.ACTION_REQUIRED),
        (S.ACTION_REQUIRED, S.PROCESSING),
        (S.PROCESSING, S.DECLINED),
        (S.PROCESSING, S.EXPIRED),
    }
    assert TRANSITIONS[Flow.COLLECT] == {
        (None, S.REQUESTED),
        (S.REQUESTED, S.PROCESSING),
        (S.PROCESSING, S.COMPLETED),
        (S.PROCESSING, S.FAILED),
        (S.PROCESSING, S.DECLINED),
        (S.PROCESSING, S.EXPIRED),
    }
    assert {S.COMPLETED, S.FAILED, S.DECLINED, S.EXPIRED} == FINAL_STATUSES


@pytest.mark.parametrize("flow", list(Flow))
def test_no_transition_leaves_a_final_status(flow):
    for src, _dst in TRANSITIONS[flow]:
        assert src not in FINAL_STATUSES
    assert not is_legal(flow, S.COMPLETED, S.PROCESSING)


def test_legal_paths():
    assert is_legal_path(Flow.PAY, [S.QUEUED, S.PROCESSING, S.COMPLETED])
    assert is_legal_path(Flow.COLLECT, [S.REQUESTED, S.PROCESSING, S.EXPIRED])
    assert not is_legal_path(Flow.PAY, [S.QUEUED, S.COMPLETED])
    assert not is_legal_path(Flow.PAY, [S.PROCESSING])
    assert not is_legal_path(Flow.PAY, [])
    assert not is_legal_path(Flow.COLLECT, [S.QUEUED])
    assert not is_legal_path(Flow.PAY, [S.QUEUED, S.PROCESSING, S.COMPLETED, S.FAILED])
