"""A sender SIGKILLed while a delivery is in flight: the delivery still arrives, with the same webhook-id."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest

from flosspay.adapters.persistence.engine import create_engine
from flosspay.adapters.persistence.unit_of_work import SqlUnitOfWorkFactory
from flosspay.domain.webhooks import DeliveryStatus
from tests.db_fixtures import TEST_SECRET_BOX
from tests.integration.webhooks.receiver import Receiver
from tests.integration.webhooks.support import add_endpoint, completed_payment

pytestmark = [pytest.mark.integration, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[3]


def _sender(url: str, seconds: float) -> subprocess.Popen[bytes]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    script = str(Path(__file__).with_name("sender_process.py"))
    return subprocess.Popen([sys.executable, script, url, str(seconds)], env=env, stdout=subprocess.PIPE)


@pytest.mark.parametrize(
    "database_url", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)], indirect=True
)
def test_a_sender_killed_mid_delivery_is_taken_over_with_the_same_id(database_url: str, receiver: Receiver) -> None:
    engine = create_engine(database_url)
    uow_factory = SqlUnitOfWorkFactory(engine, TEST_SECRET_BOX)
    try:
        now = datetime.now(UTC)
        add_endpoint(uow_factory, receiver.url, now)
        payment = completed_payment(uow_factory, now)
        receiver.mode = "hang"  # the first request is received and never answered
        first = _sender(database_url, 60)
        try:
            (hung,) = receiver.wait_for(1, timeout=30)
            first.send_signal(signal.SIGKILL)
            assert first.wait(10) == -signal.SIGKILL
        finally:
            if first.poll() is None:
                first.kill()
        receiver.mode = "ok"
        second = _sender(database_url, 30)
        try:
            got = receiver.wait_for(2, timeout=25)
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline:  # the survivor records its success
                with uow_factory() as uow:
                    (event,) = uow.webhooks.list_events("cl_hooks", payment.id, 10)
                    (delivery,) = uow.webhooks.deliveries([event.id])
                if delivery.status is DeliveryStatus.DELIVERED:
                    break
                time.sleep(0.1)
        finally:
            second.terminate()
            second.wait(10)
        assert len(got) >= 2
        assert {d.headers["webhook-id"] for d in got} == {hung.headers["webhook-id"]}
        assert got[1].body == hung.body  # the same event, byte for byte (a new timestamp and signature)
        assert delivery.status is DeliveryStatus.DELIVERED
    finally:
        engine.dispose()
