"""Outbox messages: work scheduled in the same transaction as the state that needs it."""

from __future__ import annotations

import uuid
from datetime import datetime

import msgspec

TOPIC_PROCESS = "payment.process"


class OutboxMessage(msgspec.Struct, frozen=True):
    """Deliver ``topic`` for ``payment_id`` no earlier than ``available_at``."""

    payment_id: uuid.UUID
    topic: str
    available_at: datetime
    id: int | None = None
    request_id: str | None = None
    """The request that scheduled the work, carried to the worker so its log lines name it."""
