"""Build the Dramatiq broker: Redis in production, an in-process stub for the embedded mode.

Retries come from the processing policy, so "max attempts" means the same to the use case and to
the broker; exhausted messages are dead-lettered by Dramatiq (Redis ``<ns>:payments.XQ``).
"""

from __future__ import annotations

import redis
from dramatiq import Broker
from dramatiq.brokers.redis import DEFAULT_DEAD_MESSAGE_TTL, DEFAULT_HEARTBEAT_TIMEOUT, RedisBroker
from dramatiq.brokers.stub import StubBroker
from dramatiq.middleware import (
    AgeLimit,
    Callbacks,
    CurrentMessage,
    Middleware,
    Pipelines,
    Retries,
    ShutdownNotifications,
    TimeLimit,
)

from flosspay.adapters.worker.services import WorkerServices

# A dead Redis must fail a send within seconds, not hang the relay; nothing here blocks on Redis.
SOCKET_CONNECT_TIMEOUT_S = 5.0
SOCKET_TIMEOUT_S = 30.0


def build_middleware(services: WorkerServices) -> list[Middleware]:
    """Dramatiq's defaults with Retries tuned from the policy, plus CurrentMessage for the retry count."""
    return [
        AgeLimit(),
        TimeLimit(),
        ShutdownNotifications(),
        Callbacks(),
        Pipelines(),
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
    redis_url: str | None,
    namespace: str = "flosspay",
    heartbeat_timeout_ms: int = DEFAULT_HEARTBEAT_TIMEOUT,
    dead_message_ttl_ms: int = DEFAULT_DEAD_MESSAGE_TTL,
) -> Broker:
    """A RedisBroker for ``redis_url``, or a StubBroker (messages live in this process) when None.

    Redis hands the unacknowledged messages of a dead worker to others only after
    ``heartbeat_timeout_ms``; the relay's ``recover_stalled`` (lease expiry) is the primary recovery.
    """
    middleware = build_middleware(services)
    if redis_url is None:
        return StubBroker(middleware=middleware)
    client = redis.Redis.from_url(
        redis_url,
        socket_connect_timeout=SOCKET_CONNECT_TIMEOUT_S,
        socket_timeout=SOCKET_TIMEOUT_S,
        health_check_interval=30,
    )
    return RedisBroker(  # type: ignore[no-untyped-call]
        client=client,
        middleware=middleware,
        namespace=namespace,
        heartbeat_timeout=heartbeat_timeout_ms,
        dead_message_ttl=dead_message_ttl_ms,
    )
