"""Webhook delivery metrics: every stored attempt is counted by outcome and timed, by the delivery loop."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import msgspec
import pytest
from prometheus_client import REGISTRY

from flosspay.adapters.persistence.unit_of_work import SqlUnitOfWorkFactory
from flosspay.adapters.webhooks.delivery_loop import WebhookDeliveryLoop
from flosspay.adapters.webhooks.sender import HttpxSender
from flosspay.domain.webhooks import WebhookPolicy
from tests.fakes import FakeClock
from tests.integration.webhooks.receiver import Receiver
from tests.integration.webhooks.support import FAST, add_endpoint, completed_payment

pytestmark = pytest.mark.integration
OUTCOMES = ("delivered", "retry", "dead_lettered", "gone")


def counts() -> dict[str, float]:
    found = {o: REGISTRY.get_sample_value("flosspay_webhook_deliveries_total", {"outcome": o}) for o in OUTCOMES}
    assert all(value is not None for value in found.values()), found  # every outcome is exposed from the start
    found["timed"] = REGISTRY.get_sample_value("flosspay_webhook_delivery_seconds_count") or 0.0
    return {name: value or 0.0 for name, value in found.items()}


def delta(before: dict[str, float]) -> dict[str, float]:
    return {name: value - before[name] for name, value in counts().items() if value != before[name]}


def run_once(uow_factory: SqlUnitOfWorkFactory, clock: FakeClock, policy: WebhookPolicy = FAST) -> int:
    sender = HttpxSender(policy)
    try:
        return WebhookDeliveryLoop(uow_factory, clock, policy, sender=sender).run_once()
    finally:
        sender.close()


def test_a_failed_attempt_then_a_delivery_are_counted_and_timed(
    uow_factory: SqlUnitOfWorkFactory, receiver: Receiver
) -> None:
    receiver.fail_first = 1
    clock = FakeClock(datetime.now(UTC))
    add_endpoint(uow_factory, receiver.url, clock.now())
    completed_payment(uow_factory, clock.now())
    before = counts()
    assert run_once(uow_factory, clock) == 1
    assert delta(before) == {"retry": 1, "timed": 1}
    assert run_once(uow_factory, clock) == 1
    assert delta(before) == {"retry": 1, "delivered": 1, "timed": 2}


def test_a_used_up_schedule_is_counted_as_dead_lettered(uow_factory: SqlUnitOfWorkFactory, receiver: Receiver) -> None:
    receiver.fail_first = 100
    clock = FakeClock(datetime.now(UTC))
    policy = msgspec.structs.replace(FAST, retry_schedule=(timedelta(0),))
    add_endpoint(uow_factory, receiver.url, clock.now())
    completed_payment(uow_factory, clock.now())
    before = counts()
    assert run_once(uow_factory, clock, policy) == 1
    assert run_once(uow_factory, clock, policy) == 1
    assert delta(before) == {"retry": 1, "dead_lettered": 1, "timed": 2}


def test_a_410_is_counted_as_gone(uow_factory: SqlUnitOfWorkFactory, receiver: Receiver) -> None:
    receiver.mode = "gone"
    clock = FakeClock(datetime.now(UTC))
    add_endpoint(uow_factory, receiver.url, clock.now())
    completed_payment(uow_factory, clock.now())
    before = counts()
    assert run_once(uow_factory, clock) == 1
    assert delta(before) == {"gone": 1, "timed": 1}
