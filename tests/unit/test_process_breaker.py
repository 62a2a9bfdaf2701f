"""process_payment behind a circuit breaker: an open circuit defers without calling the PSP or using an attempt."""

import uuid
from datetime import timedelta

import pytest

from flosspay.adapters.breaker_store import InProcessBreakerStore
from flosspay.adapters.http.payments import HTTP_INTAKE
from flosspay.application.accept_payment import PaymentIntent, accept_payment
from flosspay.application.breakers import BreakerPolicy, CircuitBreakers
from flosspay.application.policies import IntakePolicy, ProcessingPolicy
from flosspay.application.process import Disposition, process_payment
from flosspay.domain.breaker import BreakerConfig, BreakerState
from flosspay.domain.payment import Flow, PaymentStatus
from flosspay.domain.rail import Outcome, RailResult
from tests.fakes import FakeClock, FakeRail, FakeRailRegistry, FakeUnitOfWorkFactory

pytestmark = pytest.mark.unit

DOWN = RailResult(Outcome.TRANSIENT, "PSP_5XX", "PSP answered 503")
CFG = BreakerConfig(failure_threshold=2, cool_down=timedelta(seconds=10), half_open_probes=1)


class World:
    def __init__(self, *script: RailResult) -> None:
        self.uow = FakeUnitOfWorkFactory()
        self.rail = FakeRail(*script)
        self.rails = FakeRailRegistry(self.rail)
        self.clock = FakeClock()
        self.policy = ProcessingPolicy(max_attempts=3, lease=timedelta(seconds=30))
        self.breakers = CircuitBreakers(InProcessBreakerStore(), self.clock, BreakerPolicy(per_rail={"upi": CFG}))

    def pay(self, key: str) -> uuid.UUID:
        intent = PaymentIntent(
            "c1", key, "fp" + key, "UPI", Flow.PAY, 100, "INR", {"senderUpi": "alice@upi", "receiverUpi": "bob@upi"}
        )
        accepted = accept_payment(
            intent, uow_factory=self.uow, rails=self.rails, clock=self.clock, policy=IntakePolicy(), **HTTP_INTAKE
        )
        return uuid.UUID(accepted.payment_id)

    def run(self, pid: uuid.UUID):
        return process_payment(
            pid,
            worker="w1",
            uow_factory=self.uow,
            rails=self.rails,
            clock=self.clock,
            policy=self.policy,
            breakers=self.breakers,
        )


def test_open_circuit_defers_without_calling_the_psp_or_using_an_attempt():
    w = World(DOWN, DOWN)
    a, b, c = w.pay("a"), w.pay("b"), w.pay("c")
    assert w.run(a).disposition is Disposition.RETRY
    assert w.run(b).disposition is Disposition.RETRY
    assert w.breakers.snapshot("upi").state is BreakerState.OPEN
    calls = len(w.rail.calls)
    outbox_before = len(w.uow.store.outbox)

    result = w.run(c)

    assert result.disposition is Disposition.DEFERRED and "circuit open" in result.detail
    assert len(w.rail.calls) == calls  # the PSP was not called
    payment = w.uow.store.payments[c]
    assert payment.status is PaymentStatus.QUEUED and payment.attempts == [] and payment.lease_owner is None
    (message,) = w.uow.store.outbox[outbox_before:]
    assert message.payment_id == c and message.available_at == w.clock.now() + timedelta(seconds=10)


def test_after_the_cool_down_a_probe_goes_through_and_recovery_completes_everything():
    w = World(DOWN, DOWN)  # then the fake PSP approves
    a, b, c = w.pay("a"), w.pay("b"), w.pay("c")
    w.run(a), w.run(b)
    assert w.run(c).disposition is Disposition.DEFERRED
    w.clock.advance(10)
    assert w.run(a).disposition is Disposition.DONE  # the probe
    assert w.breakers.snapshot("upi").state is BreakerState.CLOSED
    assert w.run(b).disposition is Disposition.DONE and w.run(c).disposition is Disposition.DONE
    for pid in (a, b, c):
        assert w.uow.store.payments[pid].status is PaymentStatus.COMPLETED
    assert [len(w.uow.store.payments[p].attempts) for p in (a, b, c)] == [2, 2, 1]


def test_a_failing_probe_reopens_and_defers_again():
    w = World(DOWN, DOWN, DOWN)
    a, b = w.pay("a"), w.pay("b")
    w.run(a), w.run(b)
    w.clock.advance(10)
    assert w.run(a).disposition is Disposition.RETRY
    assert w.breakers.snapshot("upi").state is BreakerState.OPEN
    assert w.run(b).disposition is Disposition.DEFERRED


def test_declines_do_not_open_the_circuit():
    declined = RailResult(Outcome.DECLINED, "Z9", "insufficient funds")
    w = World(declined, declined, declined)
    for key in "abc":
        assert w.run(w.pay(key)).disposition is Disposition.DONE
    assert w.breakers.snapshot("upi").state is BreakerState.CLOSED


def test_a_breaker_store_that_fails_never_stops_payments():
    class Broken:
        def load(self, service):
            raise ConnectionError("down")

        def swap(self, expected_version, breaker):
            raise ConnectionError("down")

    w = World()
    w.breakers = CircuitBreakers(Broken(), w.clock)
    assert w.run(w.pay("a")).disposition is Disposition.DONE
    assert w.breakers.snapshot("upi") is None
