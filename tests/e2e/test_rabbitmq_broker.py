"""End to end on RabbitMQ: API, ``flosspay worker`` (two processes) and the sandbox PSP with
FLOSSPAY_BROKER_URL=amqp://…; a payment is accepted, relayed through RabbitMQ and completed once,
a flaky PSP is retried through the delay queue, and the CLI reads the broker's dead letters."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator

import pika
import pytest
from dramatiq.common import dq_name, xq_name

from tests.e2e.conftest import Stack
from tests.e2e.processes import run_cli

pytestmark = [pytest.mark.e2e, pytest.mark.postgres, pytest.mark.redis, pytest.mark.rabbitmq, pytest.mark.slow]

BODY = {"senderUpi": "alice@upi", "receiverUpi": "bob@upi", "amount": "28.00", "note": "e2e rabbitmq"}


@pytest.fixture
def stack_env(rabbitmq_url: str) -> Iterator[dict[str, str]]:
    namespace = f"fp-e2e-rmq-{uuid.uuid4().hex[:8]}"
    yield {"FLOSSPAY_BROKER_URL": rabbitmq_url, "FLOSSPAY_QUEUE_NAMESPACE": namespace}
    connection = pika.BlockingConnection(pika.URLParameters(rabbitmq_url))
    try:
        channel = connection.channel()
        queue = f"{namespace}.payments"
        for name in (queue, dq_name(queue), xq_name(queue)):
            channel.queue_delete(name)
    finally:
        connection.close()


def _ready_messages(url: str, queue: str) -> int:
    connection = pika.BlockingConnection(pika.URLParameters(url))
    try:
        return int(connection.channel().queue_declare(queue, passive=True).method.message_count)
    finally:
        connection.close()


def test_payment_goes_through_rabbitmq_and_completes_exactly_once(stack: Stack, rabbitmq_url: str) -> None:
    accepted = stack.client.post("/api/v1/pay", BODY, key="rmq-order-1")
    assert accepted.status_code == 200, accepted.text
    payment = accepted.json()
    final = stack.client.wait_final(payment["id"])
    assert final["status"] == "COMPLETED", final
    assert [(h["from"], h["to"]) for h in final["history"]] == [
        (None, "QUEUED"),
        ("QUEUED", "PROCESSING"),
        ("PROCESSING", "COMPLETED"),
    ]
    assert len(stack.debits(payment["id"])) == 1
    # The queue is RabbitMQ's, named for the namespace: it exists and holds nothing once the payment is done.
    assert _ready_messages(rabbitmq_url, f"{stack.env['FLOSSPAY_QUEUE_NAMESPACE']}.payments") == 0
    worker_log = next(p for p in stack.procs if p.name == "worker").output()
    assert "FlossPayRabbitmqBroker" in worker_log
    assert "guest:guest" not in worker_log, "the broker URL's password is never logged"


def test_flaky_psp_is_retried_through_rabbitmq_delay_queue(stack: Stack) -> None:
    payment = stack.client.post("/api/v1/pay", {**BODY, "senderUpi": "flaky.alice@upi"}, key="rmq-order-2").json()
    final = stack.client.wait_final(payment["id"])
    assert final["status"] == "COMPLETED"
    assert [a["outcome"] for a in final["attempts"]] == ["TRANSIENT", "TRANSIENT", "COMPLETED"]
    assert len(stack.debits(payment["id"])) == 1


def test_readiness_and_dead_letters_cli_speak_rabbitmq(stack: Stack) -> None:
    import httpx

    ready = httpx.get(f"{stack.api_url}/health/ready", timeout=5)
    assert ready.status_code == 200, ready.text
    listed = run_cli(["dead-letters", "list", "--json"], stack.env)
    assert listed.returncode == 0, listed.stderr
    assert json.loads(listed.stdout) == []
