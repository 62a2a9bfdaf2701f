"""Webhooks (Standard Webhooks): event types, signing, the retry schedule, URL rules, the per-endpoint breaker.

Pure rules, no I/O: the adapters resolve names, send requests and store rows; this module decides
what is sent, how it is signed, whether an address may be contacted and when to try again.
"""

from __future__ import annotations

import base64
import enum
import ipaddress
import secrets
import uuid
from collections.abc import Sequence
from datetime import datetime, timedelta
from urllib.parse import urlsplit

import msgspec

from flosspay.domain.errors import FieldError, ValidationFailed
from flosspay.domain.payment import PaymentStatus, StatusChange

SECRET_PREFIX = "whsec_"  # noqa: S105 (a prefix, not a secret)
SECRET_BYTES = 32  # Standard Webhooks: 24 to 64 random bytes
MAX_URL_LENGTH = 2048
MAX_DESCRIPTION_LENGTH = 255
RESPONSE_LOG_BYTES = 1024  # the first 1 KiB of a receiver's answer is kept in the delivery log


class EventType(enum.StrEnum):
    PAYMENT_COMPLETED = "payment.completed"
    PAYMENT_FAILED = "payment.failed"
    PAYMENT_DECLINED = "payment.declined"
    PAYMENT_EXPIRED = "payment.expired"
    PAYMENT_ACTION_REQUIRED = "payment.action_required"
    REFUND_SUCCEEDED = "refund.succeeded"  # issue 13: a refund's final statuses
    REFUND_FAILED = "refund.failed"


ALL_EVENT_TYPES: tuple[EventType, ...] = tuple(EventType)

_EVENT_OF_STATUS = {
    PaymentStatus.COMPLETED: EventType.PAYMENT_COMPLETED,
    PaymentStatus.FAILED: EventType.PAYMENT_FAILED,
    PaymentStatus.DECLINED: EventType.PAYMENT_DECLINED,
    PaymentStatus.EXPIRED: EventType.PAYMENT_EXPIRED,
    PaymentStatus.ACTION_REQUIRED: EventType.PAYMENT_ACTION_REQUIRED,
}

_EVENT_NAMESPACE = uuid.UUID("6f1d3c1e-8a52-4e0b-9a57-1f0d3e9c2b7a")


class DeliveryStatus(enum.StrEnum):
    PENDING = "PENDING"  # due at next_attempt_at (also while an attempt is in flight: the lease)
    DELIVERED = "DELIVERED"  # a 2xx came back in time
    FAILED = "FAILED"  # retries exhausted (dead-lettered) or the endpoint answered 410; redeliver resets it


def events_for(history: Sequence[StatusChange], new: Sequence[StatusChange]) -> list[tuple[EventType, StatusChange]]:
    """The events a save of ``new`` history rows causes (``history`` includes them).

    A payment waiting on its payer may go PROCESSING → ACTION_REQUIRED on every poll: only the
    first time is an event, so a merchant hears "action required" once per payment.
    """
    events: list[tuple[EventType, StatusChange]] = []
    earlier = len(history) - len(new)
    for index, change in enumerate(new):
        event = _EVENT_OF_STATUS.get(change.to_status)
        if event is None:
            continue
        if event is EventType.PAYMENT_ACTION_REQUIRED and any(
            h.to_status is PaymentStatus.ACTION_REQUIRED for h in history[: earlier + index]
        ):
            continue
        events.append((event, change))
    return events


def event_id(payment_id: uuid.UUID, event: EventType) -> str:
    """``msg_…``, the same for one payment's one event whoever computes it (so it can never be doubled)."""
    return "msg_" + uuid.uuid5(_EVENT_NAMESPACE, f"{payment_id}:{event.value}").hex


def new_endpoint_id() -> str:
    return "ep_" + uuid.uuid4().hex


def new_secret() -> str:
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(SECRET_BYTES)).decode()


def secret_key(secret: str) -> bytes:
    """The HMAC key a ``whsec_`` secret stands for (its Base64 part, decoded)."""
    raw = secret.removeprefix(SECRET_PREFIX)
    return base64.b64decode(raw)


# --- retries ------------------------------------------------------------------------------------------

DEFAULT_RETRY_SCHEDULE: tuple[timedelta, ...] = (
    timedelta(seconds=5),
    timedelta(minutes=5),
    timedelta(minutes=30),
    timedelta(hours=2),
    timedelta(hours=5),
    timedelta(hours=10),
    timedelta(hours=10),
)


def next_attempt(failed_attempts: int, schedule: Sequence[timedelta], now: datetime) -> datetime | None:
    """When to try again after ``failed_attempts`` failures in a row, or None: dead-letter it."""
    if failed_attempts < 1 or failed_attempts > len(schedule):
        return None
    return now + schedule[failed_attempts - 1]


def parse_duration(text: str) -> timedelta:
    """``5s``, ``5m``, ``2h``, ``1d`` or plain seconds (``0.2``)."""
    text = text.strip().lower()
    units = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400}
    for unit in ("ms", "s", "m", "h", "d"):
        if text.endswith(unit):
            number, factor = text[: -len(unit)], units[unit]
            break
    else:
        number, factor = text, 1
    value = float(number)
    if value < 0:
        raise ValueError(f"negative duration {text!r}")
    return timedelta(seconds=value * factor)


# --- the per-endpoint circuit breaker -----------------------------------------------------------------


class BreakerRule(msgspec.Struct, frozen=True):
    """Open after ``threshold`` consecutive failures; after ``cooldown`` one probe may go (half-open)."""

    threshold: int = 5
    cooldown: timedelta = timedelta(seconds=60)


class BreakerState(msgspec.Struct, frozen=True):
    failures: int = 0
    open_until: datetime | None = None


def breaker_allows(rule: BreakerRule, state: BreakerState, now: datetime) -> bool:
    """Closed, or half-open with its cooldown over: a delivery may be tried."""
    return state.failures < rule.threshold or state.open_until is None or state.open_until <= now


def breaker_half_open(rule: BreakerRule, state: BreakerState) -> bool:
    """Tripped: only one probe at a time (the caller holds the breaker open while it runs)."""
    return state.failures >= rule.threshold


def breaker_after(rule: BreakerRule, state: BreakerState, succeeded: bool, now: datetime) -> BreakerState:
    if succeeded:
        return BreakerState()
    failures = state.failures + 1
    return BreakerState(failures, now + rule.cooldown if failures >= rule.threshold else None)


# --- URLs and addresses (SSRF) ------------------------------------------------------------------------


def check_url(url: object, allow_private: bool, field: str = "url") -> str:
    """A syntactically acceptable endpoint URL (``https`` unless private URLs are allowed), or 400."""
    if not isinstance(url, str) or not url:
        raise ValidationFailed([FieldError(field, "is required")])
    if len(url) > MAX_URL_LENGTH:
        raise ValidationFailed([FieldError(field, f"must be at most {MAX_URL_LENGTH} characters")])
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise ValidationFailed([FieldError(field, "is not a valid URL")]) from None
    schemes = ("https", "http") if allow_private else ("https",)
    if parts.scheme not in schemes:
        raise ValidationFailed([FieldError(field, "must be an https:// URL")])
    if not parts.hostname:
        raise ValidationFailed([FieldError(field, "must name a host")])
    if parts.username is not None or parts.password is not None:
        raise ValidationFailed([FieldError(field, "must not carry credentials")])
    if parts.fragment:
        raise ValidationFailed([FieldError(field, "must not have a #fragment")])
    if port == 0:
        raise ValidationFailed([FieldError(field, "must not use port 0")])
    if any(ch.isspace() or ord(ch) < 0x20 for ch in url):
        raise ValidationFailed([FieldError(field, "must not contain spaces or control characters")])
    return url


def address_refused(address: str, allow_private: bool) -> str | None:
    """Why FlossPay must not connect to ``address`` (an IP literal), or None when it may."""
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return "is not an IP address"
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    if allow_private:
        return None
    if ip.is_loopback:
        return "resolves to a loopback address"
    if ip.is_link_local:
        return "resolves to a link-local address"
    if ip.is_multicast:
        return "resolves to a multicast address"
    if ip.is_private or ip.is_unspecified or ip.is_reserved or not ip.is_global:
        return "resolves to a private or reserved address"
    return None


def check_events(events: object, field: str = "events") -> tuple[EventType, ...]:
    """A non-empty list of known event types, without repeats, in the canonical order."""
    if events is None:
        return ALL_EVENT_TYPES
    if not isinstance(events, list) or not events:
        raise ValidationFailed([FieldError(field, "must be a non-empty list of event types")])
    known = {e.value: e for e in EventType}
    chosen: set[EventType] = set()
    for i, name in enumerate(events):
        if not isinstance(name, str) or name not in known:
            allowed = ", ".join(known)
            raise ValidationFailed([FieldError(f"{field}[{i}]", f"must be one of {allowed}")])
        chosen.add(known[name])
    return tuple(e for e in ALL_EVENT_TYPES if e in chosen)


def check_description(description: object, field: str = "description") -> str:
    if description is None:
        return ""
    if not isinstance(description, str):
        raise ValidationFailed([FieldError(field, "must be a string")])
    if len(description) > MAX_DESCRIPTION_LENGTH:
        raise ValidationFailed([FieldError(field, f"must be at most {MAX_DESCRIPTION_LENGTH} characters")])
    return description


class WebhookEndpoint(msgspec.Struct, kw_only=True):
    """A merchant's receiver (WebhookCallback in the original design)."""

    id: str
    client_id: str
    url: str
    events: tuple[EventType, ...]
    description: str
    enabled: bool
    created_at: datetime
    updated_at: datetime
    secret: str
    previous_secret: str | None = None
    previous_secret_expires_at: datetime | None = None
    disabled_reason: str | None = None
    breaker: BreakerState = BreakerState()

    def signing_secrets(self, now: datetime) -> list[str]:
        """The current secret, plus the previous one while its overlap lasts."""
        out = [self.secret]
        expires = self.previous_secret_expires_at
        if self.previous_secret and expires is not None and expires > now:
            out.append(self.previous_secret)
        return out


def is_success(status_code: int | None) -> bool:
    return status_code is not None and 200 <= status_code < 300


class WebhookEvent(msgspec.Struct, frozen=True, kw_only=True):
    """One thing a merchant is told (WebhookEvent in the original design); ``payload`` is what is signed."""

    id: str
    client_id: str
    payment_id: uuid.UUID
    type: EventType
    created_at: datetime
    payload: bytes


class Delivery(msgspec.Struct, frozen=True, kw_only=True):
    """An event's journey to one endpoint."""

    id: int
    event_id: str
    endpoint_id: str
    url: str
    status: DeliveryStatus
    attempts: int
    next_attempt_at: datetime | None
    created_at: datetime
    finished_at: datetime | None = None


class AttemptRecord(msgspec.Struct, frozen=True, kw_only=True):
    """One try: what was sent where, and what came back (the first 1 KiB of it)."""

    delivery_id: int
    event_id: str
    endpoint_id: str
    url: str
    attempted_at: datetime
    duration_ms: int
    response_status: int | None
    response_body: str
    error: str | None
    next_attempt_at: datetime | None


class DueDelivery(msgspec.Struct, frozen=True, kw_only=True):
    """A delivery claimed by one sender: everything it needs to send and sign."""

    delivery_id: int
    claim: str
    event_id: str
    endpoint_id: str
    url: str
    payload: bytes
    secrets: tuple[str, ...]
    attempts: int  # attempts made before this one


class SendResult(msgspec.Struct, frozen=True, kw_only=True):
    """What one HTTP attempt gave: a status (None if no answer), the time it took, the start of the body."""

    status_code: int | None
    duration_ms: int
    body_head: str = ""
    error: str | None = None

    @property
    def succeeded(self) -> bool:
        return is_success(self.status_code)


class AttemptOutcome(msgspec.Struct, frozen=True, kw_only=True):
    """One finished attempt, as the sender hands it back to the store."""

    due: DueDelivery
    attempt: AttemptRecord
    status: DeliveryStatus
    succeeded: bool
    gone: bool


class WebhookPolicy(msgspec.Struct, frozen=True, kw_only=True):
    """The operator's webhook settings (FLOSSPAY_WEBHOOK_*), as the use cases and the sender need them."""

    allow_private_urls: bool = False
    timeout: timedelta = timedelta(seconds=10)
    retry_schedule: tuple[timedelta, ...] = DEFAULT_RETRY_SCHEDULE
    breaker: BreakerRule = BreakerRule()
    secret_overlap: timedelta = timedelta(hours=24)
    batch: int = 100
    concurrency: int = 8
    poll_interval: timedelta = timedelta(seconds=0.5)
    max_response_bytes: int = 64 * 1024

    @property
    def lease(self) -> timedelta:
        """How long a claimed delivery is held before another sender may take it over: long enough
        for a whole batch to go out in waves of ``concurrency`` timed-out sends, and be recorded."""
        waves = -(-self.batch // self.concurrency)
        return self.timeout * (waves + 1) + timedelta(seconds=1)
