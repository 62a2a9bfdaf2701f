"""Inspect and requeue the payments queue's dead letters (messages Dramatiq gave up on).

Dramatiq keeps them but offers no way back: on Redis they sit in the sorted set
``<namespace>:payments.XQ`` (ids scored by when they died) with bodies in the hash
``<namespace>:payments.XQ.msgs``; on RabbitMQ in the queue ``<namespace>.payments.XQ`` (read by
fetching every message unacknowledged on a connection of our own, so closing it puts back whatever
was not requeued); the StubBroker keeps them in memory. Requeueing sends a copy with its retry count
reset; processing is idempotent, so a payment already final is simply acknowledged.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any, cast

import pika
import pika.exceptions
from dramatiq import Broker
from dramatiq.brokers.redis import RedisBroker
from dramatiq.brokers.stub import StubBroker
from dramatiq.common import q_name, xq_name
from dramatiq.errors import DecodeError
from dramatiq.message import Message

from flosspay.adapters.worker.actors import payments_queue
from flosspay.adapters.worker.broker import FlossPayRabbitmqBroker

# Options that belong to the failed delivery, not to the message.
_DELIVERY_OPTIONS = ("retries", "traceback", "requeue_timestamp", "eta", "redis_message_id")


@dataclasses.dataclass(frozen=True)
class DeadLetter:
    """One dead-lettered message. ``id`` addresses it in the broker; ``error`` is the last failure."""

    id: str
    message_id: str
    payment_id: str | None
    retries: int
    died_at: datetime | None
    error: str


class UnsupportedBroker(Exception):
    """Only the Redis, RabbitMQ and Stub brokers keep dead letters where this module can reach them."""


def _xq_keys(broker: RedisBroker, queue: str) -> tuple[str, str]:
    xq = f"{broker.namespace}:{queue}.XQ"
    return xq, f"{xq}.msgs"


def _describe(key: str, message: Message[Any], died_at_ms: float | None) -> DeadLetter:
    options = message.options
    stamp = died_at_ms if died_at_ms is not None else options.get("requeue_timestamp")
    error_lines = str(options.get("traceback") or "").strip().splitlines()
    return DeadLetter(
        id=key,
        message_id=message.message_id,
        payment_id=str(message.args[0]) if message.args else None,
        retries=int(options.get("retries", 0)),
        died_at=datetime.fromtimestamp(stamp / 1000, UTC) if stamp is not None else None,
        error=error_lines[-1] if error_lines else "",
    )


def _fresh_copy(message: Message[Any]) -> Message[Any]:
    """The message as first sent: back on the main queue, retry count reset, failure notes dropped."""
    options = {k: v for k, v in message.options.items() if k not in _DELIVERY_OPTIONS}
    options["retries"] = 0
    return dataclasses.replace(message, queue_name=q_name(message.queue_name), options=options)


def _redis_entries(broker: RedisBroker, queue: str) -> list[tuple[str, float, Message[Any]]]:
    xq, bodies = _xq_keys(broker, queue)
    scored = cast("list[tuple[bytes, float]]", broker.client.zrange(xq, 0, -1, withscores=True))
    if not scored:
        return []
    keys = [member.decode() if isinstance(member, bytes) else str(member) for member, _ in scored]
    datas = broker.client.hmget(bodies, keys)
    entries = []
    for key, (_, score), data in zip(keys, scored, datas, strict=True):
        if data is None:  # expired or taken by a concurrent requeue
            continue
        try:
            entries.append((key, float(score), Message.decode(data)))
        except DecodeError:
            continue
    return entries


# --- RabbitMQ: the dead-letter queue is read with basic_get, nothing acknowledged but what is requeued.


@contextmanager
def _rabbit_channel(broker: FlossPayRabbitmqBroker) -> Iterator[Any]:
    """A channel on a connection of its own: closing it returns every message fetched and not acked."""
    connection = pika.BlockingConnection(pika.URLParameters(broker.url))
    try:
        yield connection.channel()
    finally:
        if connection.is_open:
            connection.close()


def _death_ms(properties: Any) -> float | None:
    """When RabbitMQ dead-lettered the message (its ``x-death`` header), in ms since the epoch."""
    deaths = (getattr(properties, "headers", None) or {}).get("x-death") or []
    stamp = deaths[0].get("time") if deaths and isinstance(deaths[0], dict) else None
    if isinstance(stamp, datetime):
        aware = stamp if stamp.tzinfo is not None else stamp.replace(tzinfo=UTC)
        return aware.timestamp() * 1000
    return None


def _rabbit_entries(channel: Any, queue: str) -> list[tuple[int, float | None, Message[Any]]]:
    """(delivery tag, died at, message) of every dead letter, oldest first; all left unacknowledged."""
    xq = xq_name(queue)
    try:
        waiting = int(channel.queue_declare(xq, passive=True).method.message_count)
    except pika.exceptions.ChannelClosedByBroker as exc:
        if exc.reply_code == 404:  # nothing ever died (or the workers never ran): no queue yet
            return []
        raise
    entries = []
    for _ in range(waiting):
        method, properties, body = channel.basic_get(xq, auto_ack=False)
        if method is None:
            break
        try:
            entries.append((int(method.delivery_tag), _death_ms(properties), Message.decode(body)))
        except DecodeError:
            continue  # left unacknowledged: it goes back to the queue untouched
    return entries


def _list_rabbit(broker: FlossPayRabbitmqBroker, queue: str) -> list[DeadLetter]:
    with _rabbit_channel(broker) as channel:
        return [_describe(m.message_id, m, died) for _, died, m in _rabbit_entries(channel, queue)]


def _requeue_rabbit(broker: FlossPayRabbitmqBroker, queue: str, ident: str | None) -> int:
    """Send a fresh copy of each chosen letter (confirmed by RabbitMQ), then ack the letter: a failed send
    leaves it dead-lettered, never lost."""
    count = 0
    with _rabbit_channel(broker) as channel:
        for tag, died, message in _rabbit_entries(channel, queue):
            if not _matches(_describe(message.message_id, message, died), ident):
                continue
            broker.enqueue(_fresh_copy(message))
            channel.basic_ack(tag)
            count += 1
    return count


def list_dead_letters(broker: Broker, queue: str | None = None) -> list[DeadLetter]:
    """Dead letters of ``queue`` (default: the payments queue), oldest first."""
    queue = queue or payments_queue(broker)
    if isinstance(broker, FlossPayRabbitmqBroker):
        return _list_rabbit(broker, queue)
    if isinstance(broker, RedisBroker):
        return [_describe(key, message, score) for key, score, message in _redis_entries(broker, queue)]
    if isinstance(broker, StubBroker):
        return [_describe(m.message_id, m._message, None) for m in broker.dead_letters_by_queue[queue]]
    raise UnsupportedBroker(f"cannot read dead letters of a {type(broker).__name__}")


def _matches(letter: DeadLetter, ident: str | None) -> bool:
    return ident is None or ident in (letter.id, letter.message_id, letter.payment_id)


def _requeue_redis(broker: RedisBroker, queue: str, ident: str | None) -> int:
    xq, bodies = _xq_keys(broker, queue)
    count = 0
    for key, score, message in _redis_entries(broker, queue):
        if not _matches(_describe(key, message, score), ident):
            continue
        if broker.client.zrem(xq, key) == 0:  # another operator requeued it just now
            continue
        try:
            broker.enqueue(_fresh_copy(message))
        except Exception:
            broker.client.zadd(xq, {key: score})  # put it back: never lose a dead letter
            raise
        broker.client.hdel(bodies, key)
        count += 1
    return count


def _requeue_stub(broker: StubBroker, queue: str, ident: str | None) -> int:
    letters = broker.dead_letters_by_queue[queue]
    chosen = [m for m in letters if _matches(_describe(m.message_id, m._message, None), ident)]
    for proxy in chosen:
        letters.remove(proxy)  # in place: the stub's consumers hold this very list
        broker.enqueue(_fresh_copy(proxy._message))
    return len(chosen)


def requeue_dead_letters(broker: Broker, ident: str | None = None, queue: str | None = None) -> int:
    """Requeue the dead letters whose id, message id or payment id is ``ident`` (all when None).

    Returns how many were sent back to the queue.
    """
    queue = queue or payments_queue(broker)
    if isinstance(broker, FlossPayRabbitmqBroker):
        return _requeue_rabbit(broker, queue, ident)
    if isinstance(broker, RedisBroker):
        return _requeue_redis(broker, queue, ident)
    if isinstance(broker, StubBroker):
        return _requeue_stub(broker, queue, ident)
    raise UnsupportedBroker(f"cannot requeue dead letters of a {type(broker).__name__}")
