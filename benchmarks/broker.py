"""Benchmark: what one relay thread pays to hand messages to the broker, Redis against RabbitMQ.

    python3 scripts/dev.py bench broker [--messages 2000]

Sends ``--messages`` payment messages through the same ``build_broker`` the worker uses (Redis: LPUSH
through Dramatiq's script; RabbitMQ: a durable publish waiting for its publisher confirm), one at a
time from one thread as the relay did before ADR 0020, then the same number in batches of ``--batch``
through ``DramatiqTaskQueue.enqueue_many`` as the relay does now (Redis: one MULTI/EXEC pipeline;
RabbitMQ: one transaction, one commit), and prints messages/s and client CPU per message for each,
then how fast one consumer thread takes them back with acks. Scratch namespaces, deleted afterwards.
A benchmark, not a test: it prints figures (measure both in the same run; the servers are shared).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import uuid
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import pika
import redis
from dramatiq import Broker
from dramatiq.common import dq_name, xq_name

from flosspay.adapters.clock import SystemClock
from flosspay.adapters.worker.actors import declare_actors, payments_queue
from flosspay.adapters.worker.broker import build_broker
from flosspay.adapters.worker.services import WorkerServices
from flosspay.adapters.worker.task_queue import DramatiqTaskQueue
from flosspay.application.policies import ProcessingPolicy
from flosspay.domain.outbox import TOPIC_PROCESS, OutboxMessage

REDIS_URL = os.environ.get("FLOSSPAY_BENCH_REDIS_URL", "redis://127.0.0.1:6379/15")
RABBITMQ_URL = os.environ.get("FLOSSPAY_BENCH_RABBITMQ_URL", "amqp://guest:guest@127.0.0.1:5672/")


def services() -> WorkerServices:
    return WorkerServices(
        uow_factory=None,  # type: ignore[arg-type]  (nothing is processed: only sent and taken back)
        rails=None,  # type: ignore[arg-type]
        clock=SystemClock(),
        policy=ProcessingPolicy(max_attempts=3, lease=timedelta(seconds=30)),
        worker_id="bench",
        relay_interval_seconds=0.1,
        relay_batch=200,
        min_backoff_ms=100,
        max_backoff_ms=1000,
    )


def measure(name: str, broker: Broker, messages: int, batch: int) -> None:
    actor = declare_actors(broker, services())
    ids = [str(uuid.uuid4()) for _ in range(messages)]
    actor.send(ids[0])  # connect and declare outside the clock
    cpu0, t0 = time.process_time(), time.perf_counter()
    for payment_id in ids[1:]:
        actor.send(payment_id)
    wall, cpu = time.perf_counter() - t0, time.process_time() - cpu0
    sent = messages - 1
    print(f"  {name:<9} send one by one: {sent / wall:>8,.0f} messages/s, {cpu * 1e6 / sent:>6.0f} us client CPU each")
    queue = DramatiqTaskQueue(actor)
    now = SystemClock().now()
    rows = [OutboxMessage(uuid.uuid4(), TOPIC_PROCESS, now) for _ in range(messages)]
    cpu0, t0 = time.process_time(), time.perf_counter()
    for start in range(0, messages, batch):
        queue.enqueue_many(rows[start : start + batch])
    wall, cpu = time.perf_counter() - t0, time.process_time() - cpu0
    print(
        f"  {name:<9} send in batches of {batch}: {messages / wall:>8,.0f} messages/s, "
        f"{cpu * 1e6 / messages:>6.0f} us client CPU each"
    )
    consumer = broker.consume(payments_queue(broker), prefetch=64, timeout=1000)
    total = messages * 2
    taken, t0 = 0, time.perf_counter()
    while taken < total:
        message = next(consumer)
        if message is None:
            break
        consumer.ack(message)
        taken += 1
    wall = time.perf_counter() - t0
    consumer.close()
    print(f"  {name:<9} take and ack (one consumer): {taken / wall:>8,.0f} messages/s ({taken:,} of {total:,})")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--messages", type=int, default=2000)
    parser.add_argument("--batch", type=int, default=200, help="messages per enqueue_many (FLOSSPAY_RELAY_BATCH)")
    args = parser.parse_args()
    namespace = f"flosspay-bench-{uuid.uuid4().hex[:8]}"
    print(f"broker benchmark: {args.messages:,} messages, one thread, as the relay sends them")
    redis_broker = build_broker(services(), url=REDIS_URL, namespace=namespace)
    rabbit_broker = build_broker(services(), url=RABBITMQ_URL, namespace=namespace)
    try:
        measure("redis", redis_broker, args.messages, args.batch)
        measure("rabbitmq", rabbit_broker, args.messages, args.batch)
    finally:
        client = redis.Redis.from_url(REDIS_URL)
        keys = list(client.scan_iter(match=f"{namespace}:*"))
        if keys:
            client.delete(*keys)
        client.close()
        rabbit_broker.close()
        connection = pika.BlockingConnection(pika.URLParameters(RABBITMQ_URL))
        channel = connection.channel()
        queue = f"{namespace}.payments"
        for name in (queue, dq_name(queue), xq_name(queue)):
            channel.queue_delete(name)
        connection.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
