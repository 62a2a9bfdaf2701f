"""Delivery end to end against a real HTTP receiver: outbox rows, signing, retries, timeouts, 410, breaker."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta

import msgspec
import pytest
import standardwebhooks
from sqlalchemy import func, select

from flosspay.adapters.http.views import state_body
from flosspay.adapters.persistence.tables import webhook_attempts, webhook_deliveries, webhook_endpoints, webhook_events
from flosspay.adapters.persistence.unit_of_work import SqlUnitOfWorkFactory
from flosspay.adapters.webhooks.sender import HttpxSender
from flosspay.application.status import get_status
from flosspay.application.webhook_delivery import deliver_due
from flosspay.domain.payment import Payment
from flosspay.domain.webhooks import BreakerRule, DeliveryStatus, EventType
from flosspay.webhooks import verify
from tests.fakes import FakeClock
from tests.integration.webhooks.receiver import Receiver
from tests.integration.webhooks.support import CLIENT, FAST, add_endpoint, completed_payment

pytestmark = pytest.mark.integration


def _now() -> datetime:
    return datetime.now(UTC)


def _deliver(uow_factory: SqlUnitOfWorkFactory, clock: FakeClock, policy=FAST) -> int:  # type: ignore[no-untyped-def]
    sender = HttpxSender(policy)
    try:
        return deliver_due(uow_factory=uow_factory, sender=sender, clock=clock, policy=policy)
    finally:
        sender.close()


def test_a_completed_payment_is_delivered_signed_with_the_status_view_as_data(
    uow_factory: SqlUnitOfWorkFactory, receiver: Receiver
) -> None:
    clock = FakeClock(_now())
    endpoint = add_endpoint(uow_factory, receiver.url, clock.now())
    payment = completed_payment(uow_factory, clock.now())

    assert _deliver(uow_factory, clock) == 1
    (got,) = receiver.wait_for(1)
    assert got.headers["webhook-id"].startswith("msg_")
    assert got.headers["content-type"] == "application/json"
    # The official Standard Webhooks package accepts it, and so does FlossPay's own verify().
    official = standardwebhooks.Webhook(endpoint.secret).verify(got.body, got.headers)
    ours = verify(endpoint.secret, got.headers, got.body)
    assert official == ours
    assert ours["type"] == "payment.completed"
    status = json.loads(state_body(get_status(CLIENT, str(payment.id), uow_factory=uow_factory)))
    assert ours["data"] == status  # exactly what GET …/status returns, ledgerEntryId included
    assert "ledgerEntryId" in ours["data"]
    assert "secret" not in got.body.decode() and endpoint.secret not in got.body.decode()
    with uow_factory() as uow:
        (delivery,) = uow.webhooks.deliveries([got.headers["webhook-id"]])
        (attempt,) = uow.webhooks.attempts(got.headers["webhook-id"])
    assert delivery.status is DeliveryStatus.DELIVERED and delivery.attempts == 1
    assert attempt.response_status == 200 and attempt.response_body == "ok" and attempt.url == receiver.url
    assert _deliver(uow_factory, clock) == 0  # nothing left to send


def test_an_endpoint_hears_only_the_events_it_chose_and_each_endpoint_gets_its_own_delivery(
    uow_factory: SqlUnitOfWorkFactory, receiver: Receiver
) -> None:
    clock = FakeClock(_now())
    add_endpoint(uow_factory, receiver.url + "/a", clock.now())
    add_endpoint(uow_factory, receiver.url + "/b", clock.now())
    add_endpoint(uow_factory, receiver.url + "/failed-only", clock.now(), events=(EventType.PAYMENT_FAILED,))
    add_endpoint(uow_factory, receiver.url + "/other", clock.now(), client_id="cl_other")
    completed_payment(uow_factory, clock.now())
    _deliver(uow_factory, clock)
    got = receiver.wait_for(2)
    assert sorted(d.path for d in got) == ["/hooks/a", "/hooks/b"]
    assert len({d.headers["webhook-id"] for d in got}) == 1  # one event, one id, two deliveries


def test_a_rolled_back_state_change_writes_no_event(uow_factory: SqlUnitOfWorkFactory, receiver: Receiver) -> None:
    clock = FakeClock(_now())
    add_endpoint(uow_factory, receiver.url, clock.now())
    payment = completed_payment(uow_factory, clock.now(), fail=True)
    with uow_factory() as uow:
        events = uow.webhooks.list_events(CLIENT, payment.id, 10)
    assert [e.type for e in events] == [EventType.PAYMENT_FAILED]
    # Now a change that is never committed: no event row survives it.
    other = Payment.accept(
        id=uuid.uuid4(),
        client_id=CLIENT,
        flow=payment.flow,
        method="UPI",
        rail="upi",
        amount=payment.amount,
        details={},
        public={},
        note=None,
        now=clock.now(),
    )
    with uow_factory() as uow:
        uow.payments.add(other)
        uow.commit()
    with uow_factory() as uow:
        other.claim("w", clock.now(), clock.now() + timedelta(seconds=5))
        uow.payments.save(other)
        uow.commit()
    with uow_factory() as uow:
        other.fail("X", "y", clock.now(), None)
        uow.payments.save(other)
        # no commit: rolled back
    with uow_factory.engine.connect() as connection:
        count = connection.execute(
            select(func.count()).select_from(webhook_events).where(webhook_events.c.payment_id == other.id)
        ).scalar_one()
    assert count == 0


def test_a_receiver_that_fails_twice_gets_it_on_the_third_try_with_the_same_id(
    uow_factory: SqlUnitOfWorkFactory, receiver: Receiver
) -> None:
    receiver.fail_first = 2
    clock = FakeClock(_now())
    add_endpoint(uow_factory, receiver.url, clock.now())
    completed_payment(uow_factory, clock.now())
    for _ in range(3):
        assert _deliver(uow_factory, clock) == 1
    got = receiver.wait_for(3)
    assert len(got) == 3 and len(receiver.unique_ids()) == 1
    event_id = got[0].headers["webhook-id"]
    with uow_factory() as uow:
        attempts = uow.webhooks.attempts(event_id)
        (delivery,) = uow.webhooks.deliveries([event_id])
    assert [a.response_status for a in attempts] == [500, 500, 200]
    assert len(attempts[0].response_body.encode()) == 1024  # the first 1 KiB of a 4000-byte answer
    assert attempts[0].next_attempt_at is not None and attempts[2].next_attempt_at is None
    assert delivery.status is DeliveryStatus.DELIVERED and delivery.attempts == 3


def test_retries_follow_the_schedule_then_the_delivery_is_dead_lettered(
    uow_factory: SqlUnitOfWorkFactory, receiver: Receiver
) -> None:
    receiver.fail_first = 100
    clock = FakeClock(_now())
    policy = msgspec.structs.replace(FAST, retry_schedule=(timedelta(seconds=5), timedelta(minutes=5)))
    add_endpoint(uow_factory, receiver.url, clock.now())
    completed_payment(uow_factory, clock.now())
    assert _deliver(uow_factory, clock, policy) == 1
    assert _deliver(uow_factory, clock, policy) == 0  # not due for 5 s
    clock.advance(5)
    assert _deliver(uow_factory, clock, policy) == 1
    clock.advance(299)
    assert _deliver(uow_factory, clock, policy) == 0
    clock.advance(1)
    assert _deliver(uow_factory, clock, policy) == 1
    clock.advance(86400)
    assert _deliver(uow_factory, clock, policy) == 0  # schedule used up: dead-lettered
    event_id = receiver.deliveries[0].headers["webhook-id"]
    with uow_factory() as uow:
        (delivery,) = uow.webhooks.deliveries([event_id])
        attempts = uow.webhooks.attempts(event_id)
    assert delivery.status is DeliveryStatus.FAILED and delivery.attempts == 3
    assert attempts[-1].next_attempt_at is None


def test_a_hanging_receiver_times_out_and_is_retried(uow_factory: SqlUnitOfWorkFactory, receiver: Receiver) -> None:
    receiver.mode = "hang"
    clock = FakeClock(_now())
    policy = msgspec.structs.replace(FAST, timeout=timedelta(seconds=0.5))
    add_endpoint(uow_factory, receiver.url, clock.now())
    completed_payment(uow_factory, clock.now())
    assert _deliver(uow_factory, clock, policy) == 1
    event_id = receiver.deliveries[0].headers["webhook-id"]
    with uow_factory() as uow:
        (attempt,) = uow.webhooks.attempts(event_id)
        (delivery,) = uow.webhooks.deliveries([event_id])
    assert attempt.response_status is None and attempt.error == "timed out"
    assert 400 <= attempt.duration_ms < 3000
    assert delivery.status is DeliveryStatus.PENDING and delivery.next_attempt_at is not None


def test_410_disables_the_endpoint(uow_factory: SqlUnitOfWorkFactory, receiver: Receiver) -> None:
    receiver.mode = "gone"
    clock = FakeClock(_now())
    endpoint = add_endpoint(uow_factory, receiver.url, clock.now())
    completed_payment(uow_factory, clock.now())
    assert _deliver(uow_factory, clock) == 1
    with uow_factory() as uow:
        stored = uow.webhooks.get_endpoint(CLIENT, endpoint.id)
    assert stored is not None and not stored.enabled and "410" in (stored.disabled_reason or "")
    completed_payment(uow_factory, clock.now())  # a disabled endpoint gets no new deliveries
    assert _deliver(uow_factory, clock) == 0
    assert len(receiver.deliveries) == 1


def test_a_redirect_is_not_followed(uow_factory: SqlUnitOfWorkFactory, receiver: Receiver) -> None:
    receiver.mode = "redirect"
    clock = FakeClock(_now())
    add_endpoint(uow_factory, receiver.url, clock.now())
    completed_payment(uow_factory, clock.now())
    assert _deliver(uow_factory, clock) == 1
    with uow_factory() as uow:
        (attempt,) = uow.webhooks.attempts(receiver.deliveries[0].headers["webhook-id"])
    assert attempt.response_status == 307 and attempt.next_attempt_at is not None


def test_a_dead_endpoints_breaker_opens_and_spares_the_healthy_one(
    uow_factory: SqlUnitOfWorkFactory, receiver: Receiver
) -> None:
    healthy = Receiver().start()
    try:
        receiver.fail_first = 1000
        clock = FakeClock(_now())
        policy = msgspec.structs.replace(
            FAST, breaker=BreakerRule(threshold=2, cooldown=timedelta(seconds=60)), retry_schedule=(timedelta(0),) * 5
        )
        add_endpoint(uow_factory, receiver.url, clock.now(), events=(EventType.PAYMENT_COMPLETED,))
        add_endpoint(uow_factory, healthy.url, clock.now(), events=(EventType.PAYMENT_COMPLETED,))
        for _ in range(4):
            completed_payment(uow_factory, clock.now())
        _deliver(uow_factory, clock, policy)  # 8 deliveries: 4 fail, 4 succeed; the dead one trips
        assert len(healthy.deliveries) == 4 and len(receiver.deliveries) == 4
        assert _deliver(uow_factory, clock, policy) == 0  # open: the dead endpoint's retries wait
        clock.advance(61)
        assert _deliver(uow_factory, clock, policy) == 1  # half-open: one probe only
        assert len(receiver.deliveries) == 5
        with uow_factory.engine.connect() as connection:
            pending = connection.execute(
                select(webhook_deliveries.c.attempts).where(webhook_deliveries.c.status == "PENDING")
            ).scalars()
            assert sorted(pending) == [1, 1, 1, 2]  # the waiting ones kept their retry budget
    finally:
        healthy.stop()


def test_the_sender_connects_to_the_address_it_checked_with_the_original_host(
    uow_factory: SqlUnitOfWorkFactory, receiver: Receiver
) -> None:
    port = receiver.url.split(":")[2].split("/")[0]
    clock = FakeClock(_now())
    add_endpoint(uow_factory, f"http://hooks.test:{port}/hooks", clock.now())
    completed_payment(uow_factory, clock.now())
    sender = HttpxSender(FAST, resolve=lambda host, p: ["127.0.0.1"] if host == "hooks.test" else [])
    try:
        assert deliver_due(uow_factory=uow_factory, sender=sender, clock=clock, policy=FAST) == 1
    finally:
        sender.close()
    (got,) = receiver.wait_for(1)
    assert got.headers["host"] == f"hooks.test:{port}"


def test_a_name_that_rebinds_to_a_private_address_is_refused_at_delivery(
    uow_factory: SqlUnitOfWorkFactory, receiver: Receiver
) -> None:
    """Registered while public, resolving to loopback when sent: nothing reaches the loopback receiver."""
    port = receiver.url.split(":")[2].split("/")[0]
    clock = FakeClock(_now())
    strict = msgspec.structs.replace(FAST, allow_private_urls=False)
    add_endpoint(uow_factory, f"https://rebind.test:{port}/hooks", clock.now())
    completed_payment(uow_factory, clock.now())
    sender = HttpxSender(strict, resolve=lambda host, p: ["93.184.216.34", "127.0.0.1"])
    try:
        assert deliver_due(uow_factory=uow_factory, sender=sender, clock=clock, policy=strict) == 1
    finally:
        sender.close()
    assert receiver.deliveries == []
    with uow_factory.engine.connect() as connection:
        (error,) = connection.execute(select(webhook_attempts.c.error)).scalars()
    assert error is not None and error.startswith("refused:") and "loopback" in error


def test_a_hundred_payments_give_a_hundred_deliveries_without_duplicates(
    uow_factory: SqlUnitOfWorkFactory, receiver: Receiver
) -> None:
    from flosspay.adapters.webhooks.delivery_loop import WebhookDeliveryLoop

    clock = FakeClock(_now())
    add_endpoint(uow_factory, receiver.url, clock.now(), events=(EventType.PAYMENT_COMPLETED,))
    payments = [completed_payment(uow_factory, clock.now()) for _ in range(100)]
    loops = [WebhookDeliveryLoop(uow_factory, clock, FAST) for _ in range(2)]  # two senders racing
    for loop in loops:
        loop.start()
    try:
        got = receiver.wait_for(100, timeout=60)
    finally:
        for loop in loops:
            loop.stop()
    assert len(receiver.unique_ids()) == 100
    assert len(receiver.deliveries) == 100  # and no sender took one the other held
    payment_ids = {json.loads(d.body)["data"]["id"] for d in got}
    assert payment_ids == {str(p.id) for p in payments}
    with uow_factory.engine.connect() as connection:
        statuses = connection.execute(select(webhook_deliveries.c.status)).scalars().all()
    assert statuses == ["DELIVERED"] * 100


def test_a_huge_answer_is_read_only_up_to_the_cap(uow_factory: SqlUnitOfWorkFactory, receiver: Receiver) -> None:
    receiver.mode = "huge"
    clock = FakeClock(_now())
    add_endpoint(uow_factory, receiver.url, clock.now())
    completed_payment(uow_factory, clock.now())
    sender = HttpxSender(FAST)
    try:
        with uow_factory() as uow:
            (due,) = uow.webhooks.claim_due(clock.now(), 10, clock.now(), "c1", FAST.breaker)
            uow.commit()

        result = sender.send(due, int(clock.now().timestamp()))
    finally:
        sender.close()
    assert result.status_code == 200 and result.body_head == "y" * 1024
    assert result.duration_ms < 2000  # 50 MB were not waited for


def test_an_endpoint_whose_secret_does_not_open_is_set_aside_and_the_others_still_hear(
    uow_factory: SqlUnitOfWorkFactory, receiver: Receiver, caplog: pytest.LogCaptureFixture
) -> None:
    clock = FakeClock(_now())
    broken = add_endpoint(uow_factory, receiver.url + "/broken", clock.now())
    add_endpoint(uow_factory, receiver.url + "/fine", clock.now())
    with uow_factory() as uow:  # as after a key rotation whose previous key was left out
        uow._db.execute(
            webhook_endpoints.update().where(webhook_endpoints.c.id == broken.id).values(secret_key_id="gone")
        )
        uow.commit()
    completed_payment(uow_factory, clock.now())

    assert _deliver(uow_factory, clock) == 1
    assert [d.path for d in receiver.wait_for(1)] == ["/hooks/fine"]
    assert "its deliveries wait" in caplog.text and "gone" in caplog.text
    with uow_factory() as uow:
        rows = uow._db.execute(
            select(
                webhook_deliveries.c.status, webhook_deliveries.c.attempts, webhook_deliveries.c.next_attempt_at
            ).where(webhook_deliveries.c.endpoint_id == broken.id)
        ).all()
    assert [(status, attempts) for status, attempts, _ in rows] == [("PENDING", 0)]  # nothing lost, no attempt used
    assert rows[0][2] > clock.now()  # set aside, not retried on every pass
