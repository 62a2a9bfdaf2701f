"""Outbox messages: work scheduled in the same transaction as the state that needs it."""

from __future__ import annotations

import uuid
from datetime import datetime

import msgspec

TOPIC_PROCESS = "payment.process"
TOPIC_REFUND = "refund.process"
"""Carry out the refund ``refund_id`` (of payment ``payment_id``) at its rail (issue 13)."""


class OutboxMessage(msgspec.Struct, frozen=True):
    """Deliver ``topic`` for ``payment_id`` no earlier than ``available_at``."""

    payment_id: uuid.UUID
    topic: str
    available_at: datetime
    id: int | None = None
    request_id: str | None = None
    """The request that scheduled the work, carried to the worker so its log lines name it."""
    refund_id: uuid.UUID | None = None
    """The refund a ``refund.process`` message is for (None for a payment's own messages)."""
