"""Build the Dramatiq broker: Redis (default) or RabbitMQ in production, an in-process stub embedded.

Retries come from the processing policy, so "max attempts" means the same to the use case and to
the broker; exhausted messages are dead-lettered by Dramatiq (Redis ``<ns>:payments.XQ``, RabbitMQ
the queue ``<ns>.payments.XQ``). ADR 0016 says why RabbitMQ is an option and what it costs.
"""

from __future__ import annotations

import redis
from dramatiq import Broker
from dramatiq.brokers.rabbitmq import RabbitmqBroker
from dramatiq.brokers.redis import DEFAULT_DEAD_MESSAGE_TTL, DEFAULT_HEARTBEAT_TIMEOUT
from dramatiq.brokers.stub import StubBroker
from dramatiq.middleware import CurrentMessage, Middleware, Retries, TimeLimit

from flosspay.adapters.worker.redis_consumer import FlossPayRedisBroker
from flosspay.adapters.worker.services import WorkerServices

# A dead Redis must fail a send within seconds, not hang the relay; nothing here blocks on Redis.
SOCKET_CONNECT_TIMEOUT_S = 5.0
SOCKET_TIMEOUT_S = 30.0

AMQP_SCHEMES = ("amqp://", "amqps://")


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

    def ping(self) -> bool:
        """Open and close a connection: RabbitMQ answers (raises when it does not)."""
        import pika

        parameters = pika.URLParameters(self.url)
        parameters.socket_timeout = SOCKET_CONNECT_TIMEOUT_S
        parameters.blocked_connection_timeout = SOCKET_CONNECT_TIMEOUT_S
        connection = pika.BlockingConnection(parameters)
        connection.close()
        return True


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
