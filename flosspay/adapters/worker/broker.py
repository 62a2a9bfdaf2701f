"""Build the Dramatiq broker: Redis (default) or RabbitMQ in production, an in-process stub embedded.

Retries come from the processing policy, so "max attempts" means the same to the use case and to
the broker; exhausted messages are dead-lettered by Dramatiq (Redis ``<ns>:payments.XQ``, RabbitMQ
the queue ``<ns>.payments.XQ``). ADR 0016 says why RabbitMQ is an option and what it costs.
``enqueue_many`` hands the relay's batch to either broker in one round trip (ADR 0020).
"""

from __future__ import annotations

import contextlib
import threading
import uuid
from collections.abc import Sequence
from typing import Any

import pika
import pika.exceptions
import redis
from dramatiq import Broker, Message, set_encoder
from dramatiq.brokers.rabbitmq import MAX_ENQUEUE_ATTEMPTS, RabbitmqBroker
from dramatiq.brokers.redis import DEFAULT_DEAD_MESSAGE_TTL, DEFAULT_HEARTBEAT_TIMEOUT, RedisBroker
from dramatiq.brokers.stub import StubBroker
from dramatiq.common import current_millis, dq_name, q_name
from dramatiq.errors import ConnectionClosed
from dramatiq.middleware import CurrentMessage, Middleware, Retries, TimeLimit

from flosspay.adapters.worker.encoder import MsgspecEncoder
from flosspay.adapters.worker.redis_consumer import FlossPayRedisBroker
from flosspay.adapters.worker.services import WorkerServices

# A dead Redis must fail a send within seconds, not hang the relay; nothing here blocks on Redis.
SOCKET_CONNECT_TIMEOUT_S = 5.0
SOCKET_TIMEOUT_S = 30.0

AMQP_SCHEMES = ("amqp://", "amqps://")

# A message for the broker and its delay in milliseconds (None: due now), as ``Broker.enqueue`` takes them.
Batch = Sequence[tuple[Message[Any], int | None]]


def is_amqp(url: str | None) -> bool:
    return url is not None and url.startswith(AMQP_SCHEMES)


class FlossPayRabbitmqBroker(RabbitmqBroker):
    """A RabbitmqBroker whose payments queue carries the namespace (``<ns>.payments``).

    RabbitMQ has no key prefixes: the namespace in the queue name keeps two deployments (or two
    test runs) sharing one vhost apart, as ``<ns>:`` does on Redis.
    """

    def __init__(self, *, namespace: str, url: str, middleware: list[Middleware]) -> None:
        # Publisher confirms: the relay marks an outbox row dispatched only once RabbitMQ has the message.
        super().__init__(url=url, middleware=middleware, confirm_delivery=True)
        self.namespace = namespace
        self.payments_queue = f"{namespace}.payments"
        self.url = url

        self._tx = threading.local()

    def enqueue_many(self, batch: Batch) -> None:
        """Publish the whole batch on a transactional channel and commit once: when this returns,
        RabbitMQ has every message (Tx.Commit-Ok); when it raises, none can be counted on.

        The per-thread channel of ``enqueue`` is in confirm mode, which waits for one confirm per
        message (pika's BlockingChannel) and cannot also be transactional, so batches use a second
        channel on the same connection. ``mandatory`` makes a message with no queue come back
        (Basic.Return, before Commit-Ok) instead of vanishing: the batch then fails as a whole.
        """
        if not batch:
            return
        attempts = 0
        while True:
            try:
                self._publish_committed(batch)
                return
            except (pika.exceptions.AMQPConnectionError, pika.exceptions.AMQPChannelError) as exc:
                self._drop_tx_channel()
                del self.connection  # as ``enqueue`` does: the next attempt opens fresh ones
                attempts += 1
                if attempts >= MAX_ENQUEUE_ATTEMPTS:
                    raise ConnectionClosed(exc) from None  # type: ignore[no-untyped-call]

    def _publish_committed(self, batch: Batch) -> None:
        for canonical in {message.queue_name for message, _ in batch}:
            self.declare_queue(canonical, ensure=True)
        channel, returned = self._tx_channel()
        returned.clear()
        sent: list[tuple[Message[Any], int | None]] = []
        for message, delay in batch:
            queue_name = message.queue_name
            if delay is not None:
                queue_name = dq_name(queue_name)
                message = message.copy(queue_name=queue_name, options={"eta": current_millis() + delay})
            self.emit_before("enqueue", message, delay)
            channel.basic_publish(
                exchange="",
                routing_key=queue_name,
                body=message.encode(),
                properties=pika.BasicProperties(delivery_mode=2, priority=message.options.get("broker_priority")),
                mandatory=True,
            )
            sent.append((message, delay))
        channel.tx_commit()
        channel.connection.process_data_events(time_limit=0)  # runs the Basic.Return callbacks, if any
        if returned:
            for routing_key in returned:
                self.queues_pending.add(q_name(routing_key))  # redeclared on the next attempt
            raise pika.exceptions.UnroutableError([])
        for message, delay in sent:
            self.emit_after("enqueue", message, delay)

    def _tx_channel(self) -> tuple[Any, list[str]]:
        """This thread's transactional channel on this thread's connection, opened when missing."""
        connection = self.connection
        channel = getattr(self._tx, "channel", None)
        if channel is None or not channel.is_open or channel.connection is not connection:
            self._drop_tx_channel()
            channel = connection.channel()
            channel.tx_select()
            returned: list[str] = []
            channel.add_on_return_callback(lambda _ch, method, _props, _body: returned.append(method.routing_key))
            self._tx.channel, self._tx.returned = channel, returned
            self.channels.add(channel)  # closed by ``close`` with the others
        return channel, self._tx.returned

    def _drop_tx_channel(self) -> None:
        channel = getattr(self._tx, "channel", None)
        self._tx.channel = None
        if channel is None:
            return
        self.channels.discard(channel)
        if channel.is_open:
            with contextlib.suppress(Exception):  # a channel of a dead connection: nothing left to close
                channel.close()

    def ping(self) -> bool:
        """Open and close a connection: RabbitMQ answers (raises when it does not)."""
        parameters = pika.URLParameters(self.url)
        parameters.socket_timeout = SOCKET_CONNECT_TIMEOUT_S
        parameters.blocked_connection_timeout = SOCKET_CONNECT_TIMEOUT_S
        connection = pika.BlockingConnection(parameters)
        connection.close()
        return True


def enqueue_many(broker: Broker, batch: Batch) -> None:
    """Hand ``batch`` to ``broker`` in one round trip where it can take one; returns once the broker has
    every message, raises otherwise (then any of them may or may not have been taken: the relay sends
    them all again, at-least-once)."""
    if not batch:
        return
    if isinstance(broker, FlossPayRabbitmqBroker):
        broker.enqueue_many(batch)
    elif isinstance(broker, RedisBroker):
        _redis_enqueue_many(broker, batch)
    else:  # the in-process StubBroker: no round trip to save
        for message, delay in batch:
            broker.enqueue(message, delay=delay)


def _redis_enqueue_many(broker: RedisBroker, batch: Batch) -> None:
    """``RedisBroker.enqueue`` for each message (same copy, ids, delay queue, middleware hooks and Lua
    ``dispatch`` script, so the same keys and format), the script calls sent in one MULTI/EXEC
    pipeline: Redis applies them together, and ``execute`` raises if any failed."""
    dispatch = broker.scripts["dispatch"]
    sent: list[tuple[Message[Any], int | None]] = []
    with broker.client.pipeline(transaction=True) as pipe:
        for message, delay in batch:
            queue_name = message.queue_name
            message = message.copy(options={"redis_message_id": str(uuid.uuid4())})
            if delay is not None:
                queue_name = dq_name(queue_name)
                message = message.copy(queue_name=queue_name, options={"eta": current_millis() + delay})
            broker.emit_before("enqueue", message, delay)
            args = [
                "enqueue",
                current_millis(),
                queue_name,
                broker.broker_id,
                broker.heartbeat_timeout,
                broker.dead_message_ttl,
                broker._should_do_maintenance("enqueue"),
                broker._max_unpack_size(),  # type: ignore[no-untyped-call]
                message.options["redis_message_id"],
                message.encode(),
            ]
            dispatch(keys=[broker.namespace], args=args, client=pipe)
            sent.append((message, delay))
        pipe.execute()
    for message, delay in sent:
        broker.emit_after("enqueue", message, delay)


def build_middleware(services: WorkerServices) -> list[Middleware]:
    """Retries tuned from the policy, CurrentMessage for the retry count, TimeLimit as a backstop.

    Each middleware costs every message a few microseconds of hooks; Dramatiq's other defaults (AgeLimit,
    ShutdownNotifications, Callbacks, Pipelines) act on options FlossPay never sets (ADR 0022).
    """
    return [
        TimeLimit(),
        Retries(
            max_retries=services.max_retries,
            min_backoff=services.min_backoff_ms,
            max_backoff=services.max_backoff_ms,
        ),
        CurrentMessage(),
    ]


def build_broker(
    services: WorkerServices,
    *,
    redis_url: str | None = None,
    url: str | None = None,
    namespace: str = "flosspay",
    heartbeat_timeout_ms: int = DEFAULT_HEARTBEAT_TIMEOUT,
    dead_message_ttl_ms: int = DEFAULT_DEAD_MESSAGE_TTL,
) -> Broker:
    """The broker at ``url`` (``amqp://`` → RabbitMQ, ``redis://`` → Redis; default ``redis_url``), or a
    StubBroker (messages live in this process) when neither is given.

    Redis hands the unacknowledged messages of a dead worker to others only after
    ``heartbeat_timeout_ms``; the relay's ``recover_stalled`` (lease expiry) is the primary recovery.
    """
    middleware = build_middleware(services)
    set_encoder(MsgspecEncoder())  # process-wide, as Dramatiq keeps it; the same JSON
    url = url or redis_url
    if url is None:
        return StubBroker(middleware=middleware)
    if is_amqp(url):
        return FlossPayRabbitmqBroker(namespace=namespace, url=url, middleware=middleware)
    client = redis.Redis.from_url(
        url,
        socket_connect_timeout=SOCKET_CONNECT_TIMEOUT_S,
        socket_timeout=SOCKET_TIMEOUT_S,
        health_check_interval=30,
    )
    return FlossPayRedisBroker(  # batched fetches and acknowledgements (ADR 0022)
        client=client,
        middleware=middleware,
        namespace=namespace,
        heartbeat_timeout=heartbeat_timeout_ms,
        dead_message_ttl=dead_message_ttl_ms,
    )
