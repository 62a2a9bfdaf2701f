"""The Refund aggregate and its state machine: money given back on a completed payment, exactly once.

A refund is its own small life beside its payment's: PENDING (accepted, its amount reserved on the
payment) → PROCESSING (a worker holds it) → SUCCEEDED (the rail gave the money back; a ledger entry
of kind ``refund`` commits with it) or FAILED (the rail refused for good; the reservation is released
in the same transaction). Every change appends a history row; every call to the rail is an attempt.
The rail's refund call is idempotent by the refund's id, so asking again after a crash never refunds
twice: that repeat call is this machine's "status query before retry".
"""

from __future__ import annotations

import enum
import uuid
from datetime import datetime

import msgspec

from flosspay.domain.errors import FieldError, IllegalTransition, NotRefundable, PaymentBusy, ValidationFailed
from flosspay.domain.money import CURRENCY_EXPONENTS, Money, parse_money
from flosspay.domain.payment import AttemptOutcome, Payment, PaymentStatus, RailAttempt

MAX_REASON_LENGTH = 255


class RefundStatus(enum.StrEnum):
    PENDING = "PENDING"
    PROCESSING = "PROCESSING"
    SUCCEEDED = "SUCCEEDED"
    FAILED = "FAILED"


FINAL_REFUND_STATUSES = frozenset({RefundStatus.SUCCEEDED, RefundStatus.FAILED})

# Every legal (from, to) pair; anything else is refused. A transient answer leaves a refund
# PROCESSING (its lease released), as it leaves a payment.
REFUND_TRANSITIONS: frozenset[tuple[RefundStatus | None, RefundStatus]] = frozenset(
    {
        (None, RefundStatus.PENDING),
        (RefundStatus.PENDING, RefundStatus.PROCESSING),
        (RefundStatus.PROCESSING, RefundStatus.SUCCEEDED),
        (RefundStatus.PROCESSING, RefundStatus.FAILED),
    }
)


def is_legal_refund_path(statuses: list[RefundStatus]) -> bool:
    """True when ``statuses`` (from creation) is a walk the refund state machine allows."""
    previous: RefundStatus | None = None
    for status in statuses:
        if (previous, status) not in REFUND_TRANSITIONS:
            return False
        previous = status
    return bool(statuses)


class RefundChange(msgspec.Struct, frozen=True):
    """One row of a refund's history; rows are only ever appended (``seq`` is the list index)."""

    from_status: RefundStatus | None
    to_status: RefundStatus
    at: datetime
    reason: str
    attempt: int | None = None


_MAYBE_MOVED = frozenset({AttemptOutcome.UNCERTAIN, AttemptOutcome.STARTED, AttemptOutcome.COMPLETED})


class Refund:
    """A refund from acceptance to SUCCEEDED or FAILED. ``version`` guards concurrent saves."""

    def __init__(
        self,
        *,
        id: uuid.UUID,
        payment_id: uuid.UUID,
        client_id: str,
        amount: Money,
        reason: str | None,
        status: RefundStatus,
        created_at: datetime,
        updated_at: datetime,
        failure_code: str | None = None,
        failure_reason: str | None = None,
        rail_reference: str | None = None,
        lease_owner: str | None = None,
        lease_expires_at: datetime | None = None,
        version: int = 1,
        parked_at: datetime | None = None,
        parked_reason: str | None = None,
        attempt_floor: int = 0,
        history: list[RefundChange] | None = None,
        attempts: list[RailAttempt] | None = None,
    ) -> None:
        self.id = id
        self.payment_id = payment_id
        self.client_id = client_id
        self.amount = amount
        self.reason = reason
        self.status = status
        self.created_at = created_at
        self.updated_at = updated_at
        self.failure_code = failure_code
        self.failure_reason = failure_reason
        self.rail_reference = rail_reference
        self.lease_owner = lease_owner
        self.lease_expires_at = lease_expires_at
        self.version = version
        self.parked_at = parked_at
        self.parked_reason = parked_reason
        self.attempt_floor = attempt_floor
        self.history: list[RefundChange] = history if history is not None else []
        self.attempts: list[RailAttempt] = attempts if attempts is not None else []
        # Rows appended since load; the repository persists only these.
        self.new_history: list[RefundChange] = []
        self.touched_attempts: set[int] = set()

    @classmethod
    def request(
        cls,
        *,
        id: uuid.UUID,
        payment: Payment,
        amount: Money,
        reason: str | None,
        now: datetime,
    ) -> Refund:
        """A new PENDING refund of ``payment`` with its first history row (the caller reserves the amount)."""
        if payment.status is not PaymentStatus.COMPLETED:
            raise NotRefundable(f"only a COMPLETED payment can be refunded; this one is {payment.status}")
        refund = cls(
            id=id,
            payment_id=payment.id,
            client_id=payment.client_id,
            amount=amount,
            reason=reason,
            status=RefundStatus.PENDING,
            created_at=now,
            updated_at=now,
        )
        refund._append(RefundStatus.PENDING, now, "accepted", None, check=False)
        return refund

    @property
    def is_final(self) -> bool:
        return self.status in FINAL_REFUND_STATUSES

    @property
    def is_parked(self) -> bool:
        return self.parked_at is not None

    def _append(self, to: RefundStatus, now: datetime, reason: str, attempt: int | None, check: bool = True) -> None:
        previous = self.status if check else None
        if (previous, to) not in REFUND_TRANSITIONS:
            raise IllegalTransition(f"refund cannot go from {self.status} to {to}")
        change = RefundChange(previous, to, now, reason, attempt)
        self.history.append(change)
        self.new_history.append(change)
        self.status = to
        self.updated_at = now

    # --- the worker's lease -------------------------------------------------------------------

    def claim(self, worker: str, now: datetime, lease_until: datetime) -> None:
        """Take the refund for processing; refuses if final, parked or leased live to another worker."""
        if self.is_final:
            raise IllegalTransition(f"refund is already {self.status}")
        if self.is_parked:
            raise IllegalTransition("refund is dead-lettered: waiting for an operator's requeue")
        held = self.lease_owner is not None and self.lease_owner != worker
        if held and self.lease_expires_at is not None and self.lease_expires_at > now:
            raise PaymentBusy(f"refund is leased to {self.lease_owner} until {self.lease_expires_at}")
        if self.status is RefundStatus.PENDING:
            self._append(RefundStatus.PROCESSING, now, "picked up by a worker", None)
        self.lease_owner = worker
        self.lease_expires_at = lease_until
        self.updated_at = now

    def release(self, now: datetime) -> None:
        self.lease_owner = None
        self.lease_expires_at = None
        self.updated_at = now

    # --- attempts at the rail -----------------------------------------------------------------

    def start_attempt(self, now: datetime) -> RailAttempt:
        """A new call to the rail's refund (the first, or a repeat of it under the same reference)."""
        action = "refund" if not self.attempts else "refund-again"
        attempt = RailAttempt(number=len(self.attempts) + 1, started_at=now, action=action)
        self.attempts.append(attempt)
        self.touched_attempts.add(attempt.number)
        return attempt

    def finish_attempt(
        self, number: int, outcome: AttemptOutcome, code: str | None, reason: str | None, now: datetime
    ) -> None:
        attempt = self.attempts[number - 1]
        attempt.outcome = outcome
        attempt.code = code
        attempt.reason = reason
        attempt.finished_at = now
        self.touched_attempts.add(number)

    def attempts_spent(self) -> int:
        """Attempts since the last requeue that did not finish the refund (what the budget counts)."""
        return len(self.attempts) - self.attempt_floor

    def may_have_moved_money(self) -> bool:
        """True if some attempt may have reached the rail and given money back (an unclear answer, one never
        finished, or a success not recorded): such a refund is never FAILED, an operator settles it."""
        return self.status is not RefundStatus.SUCCEEDED and any(a.outcome in _MAYBE_MOVED for a in self.attempts)

    # --- dead letters -------------------------------------------------------------------------

    def park(self, reason: str, now: datetime) -> None:
        if self.is_final:
            raise IllegalTransition(f"refund is already {self.status}")
        self.parked_at = now
        self.parked_reason = reason
        self.release(now)

    def unpark(self, now: datetime) -> None:
        """Requeued by an operator: a fresh attempt budget (earlier attempts stay on record)."""
        if not self.is_parked:
            raise IllegalTransition("refund is not dead-lettered")
        self.parked_at = None
        self.parked_reason = None
        self.attempt_floor = len(self.attempts)
        self.updated_at = now

    # --- final outcomes -----------------------------------------------------------------------

    def succeed(self, now: datetime, reason: str, attempt: int | None, rail_reference: str | None = None) -> None:
        self._append(RefundStatus.SUCCEEDED, now, reason, attempt)
        if rail_reference is not None:
            self.rail_reference = rail_reference
        self.release(now)

    def fail(self, code: str, reason: str, now: datetime, attempt: int | None) -> None:
        self._append(RefundStatus.FAILED, now, reason, attempt)
        self.failure_code = code
        self.failure_reason = reason
        self.release(now)

    def mark_saved(self) -> None:
        self.new_history.clear()
        self.touched_attempts.clear()


# --- the rules of a refund request (pure; the database enforces the running total again) -----------


def refund_amount(payment: Payment, requested: object, reserved_minor: int, field: str = "amount") -> Money:
    """The amount to refund: ``requested`` (decimal string or exact number) or, when None, all that is left.

    Raises ``ValidationFailed`` for zero, negative, too many decimals, or more than the refundable
    remainder (``payment.amount - reserved_minor``, what succeeded and pending refunds do not hold).
    """
    remainder = payment.amount.minor - reserved_minor
    if requested is None:
        if remainder <= 0:
            raise ValidationFailed([FieldError(field, "nothing is left to refund on this payment")])
        return Money(remainder, payment.amount.currency)
    amount = parse_money(requested, payment.amount.currency, field)
    if amount.minor > remainder:
        left = Money(max(remainder, 0), payment.amount.currency).format()
        raise ValidationFailed([FieldError(field, f"is more than the refundable remainder ({left})")])
    return amount


def precheck_amount(requested: object, field: str = "amount") -> None:
    """Refuse, before the payment is looked up, an amount that is no amount in any currency FlossPay
    knows (a float, zero, negative, not finite, absurdly large); the currency's own rules come later."""
    if requested is None:
        return
    first: ValidationFailed | None = None
    for currency in CURRENCY_EXPONENTS:
        try:
            parse_money(requested, currency, field)
            return
        except ValidationFailed as exc:
            first = first or exc
    assert first is not None
    raise first


def check_reason(reason: object, field: str = "reason") -> str | None:
    if reason is None:
        return None
    if not isinstance(reason, str):
        raise ValidationFailed([FieldError(field, "must be a string")])
    if len(reason) > MAX_REASON_LENGTH:
        raise ValidationFailed([FieldError(field, f"must be at most {MAX_REASON_LENGTH} characters")])
    return reason


def refund_events(refund: Refund) -> list[tuple[str, RefundChange]]:
    """The webhook event types (``refund.succeeded``/``refund.failed``) a save of the new history causes."""
    names = {RefundStatus.SUCCEEDED: "refund.succeeded", RefundStatus.FAILED: "refund.failed"}
    return [(names[c.to_status], c) for c in refund.new_history if c.to_status in names]
