"""The process_refund actor on a real Redis broker: the relay routes refund messages, retries, one refund."""

from __future__ import annotations

import uuid

import msgspec
import pytest

from flosspay.adapters.clock import SystemClock
from flosspay.adapters.http.refund_views import accepted_refund_answer
from flosspay.application.policies import IntakePolicy
from flosspay.application.refunds import RefundCommand, request_refund
from flosspay.domain.ledger import refund_entry_id
from flosspay.domain.payment import PaymentStatus
from flosspay.domain.rail import Outcome, RefundResult
from flosspay.domain.refund import RefundStatus
from tests.fakes import FakeRail, FakeRailRegistry, FakeUnitOfWorkFactory

from .support import RedisSetup, accept, make_services, running, stored, wait_for

pytestmark = [pytest.mark.integration, pytest.mark.redis]


def _refund(uow: FakeUnitOfWorkFactory, rail: FakeRail, payment_id: str, amount: str) -> uuid.UUID:
    command = RefundCommand("merchant-1", uuid.uuid4().hex, "fp", payment_id, amount)
    accepted = request_refund(
        command,
        uow_factory=uow,
        rails=FakeRailRegistry(rail),
        clock=SystemClock(),
        policy=IntakePolicy(),
        render=accepted_refund_answer,
    )
    return uuid.UUID(msgspec.json.decode(accepted.answer.body)["id"])


def test_a_refund_is_carried_out_by_the_worker_after_an_unclear_answer_exactly_once(rq: RedisSetup) -> None:
    uow = FakeUnitOfWorkFactory()
    rail = FakeRail()
    rail.uncertain_refunds = True  # the first call refunds but its answer is lost
    rail.refund_script = [RefundResult(Outcome.UNCERTAIN, "TIMEOUT", "no answer")]
    services = make_services(uow, rail, max_attempts=3)
    payment_id = accept(uow, rail)
    with running(services, rq.broker(services)):
        wait_for(lambda: stored(uow, payment_id).status is PaymentStatus.COMPLETED, what="the payment")
        refund_id = _refund(uow, rail, payment_id, "10.00")
        wait_for(lambda: uow.store.refunds[refund_id].is_final, what="the refund to finish")
        wait_for(lambda: rq.pending_count() == 0, what="the messages to be acknowledged")
    refund = uow.store.refunds[refund_id]
    assert refund.status is RefundStatus.SUCCEEDED
    assert [a.outcome.value for a in refund.attempts] == ["UNCERTAIN", "COMPLETED"]
    assert rail.refund_calls == [str(refund_id)] * 2 and rail.refunds_done == {str(refund_id): 1000}
    assert refund_entry_id(refund_id) in uow.store.entries
    assert rq.dead_letter_count() == 0
