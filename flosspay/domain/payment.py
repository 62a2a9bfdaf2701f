"""The Payment aggregate and its state machine: the only place that decides what may happen next."""

from __future__ import annotations

import enum
import uuid
from datetime import datetime
from typing import Any

import msgspec

from flosspay.domain import chain
from flosspay.domain.errors import IllegalTransition, PaymentBusy
from flosspay.domain.money import Money


class Flow(enum.StrEnum):
    """PAY pushes money from the payer; COLLECT asks the payer to approve a pull."""

    PAY = "PAY"
    COLLECT = "COLLECT"


class PaymentStatus(enum.StrEnum):
    QUEUED = "QUEUED"
    REQUESTED = "REQUESTED"
    PROCESSING = "PROCESSING"
    ACTION_REQUIRED = "ACTION_REQUIRED"
    COMPLETED = "COMPLETED"
    FAILED = "FAILED"
    DECLINED = "DECLINED"
    EXPIRED = "EXPIRED"


FINAL_STATUSES = frozenset(
    {PaymentStatus.COMPLETED, PaymentStatus.FAILED, PaymentStatus.DECLINED, PaymentStatus.EXPIRED}
)

INITIAL_STATUS: dict[Flow, PaymentStatus] = {
    Flow.PAY: PaymentStatus.QUEUED,
    Flow.COLLECT: PaymentStatus.REQUESTED,
}

# Every legal (from, to) pair per flow; anything else is refused. Built from the one table the chain
# verifier also uses (flosspay.domain.chain.TRANSITIONS, standard library only).
TRANSITIONS: dict[Flow, frozenset[tuple[PaymentStatus | None, PaymentStatus]]] = {
    Flow(flow): frozenset((None if a is None else PaymentStatus(a), PaymentStatus(b)) for a, b in pairs)
    for flow, pairs in chain.TRANSITIONS.items()
}


def is_legal(flow: Flow, from_status: PaymentStatus | None, to_status: PaymentStatus) -> bool:
    return (from_status, to_status) in TRANSITIONS[flow]


def is_legal_path(flow: Flow, statuses: list[PaymentStatus]) -> bool:
    """True when ``statuses`` (starting from creation) is a walk the state machine allows."""
    previous: PaymentStatus | None = None
    for status in statuses:
        if not is_legal(flow, previous, status):
            return False
        previous = status
    return bool(statuses)


class AttemptOutcome(enum.StrEnum):
    """What one call to a rail came to; STARTED means no answer was recorded (a crash, say)."""

    STARTED = "STARTED"
    COMPLETED = "COMPLETED"
    DECLINED = "DECLINED"
    PAYER_DECLINED = "PAYER_DECLINED"
    EXPIRED = "EXPIRED"
    TRANSIENT = "TRANSIENT"
    UNCERTAIN = "UNCERTAIN"
    PENDING = "PENDING"
    ACTION_REQUIRED = "ACTION_REQUIRED"


_WAITING = frozenset({AttemptOutcome.PENDING, AttemptOutcome.ACTION_REQUIRED})


class StatusChange(msgspec.Struct, frozen=True):
    """One row of a payment's history; rows are only ever appended."""

    from_status: PaymentStatus | None
    to_status: PaymentStatus
    at: datetime
    reason: str
    attempt: int | None = None


class RailAttempt(msgspec.Struct):
    """One call (or status query) to the rail; ``number`` counts from 1 per payment."""

    number: int
    started_at: datetime
    outcome: AttemptOutcome = AttemptOutcome.STARTED
    code: str | None = None
    reason: str | None = None
    finished_at: datetime | None = None
    action: str = "execute"


class Payment:
    """A payment from acceptance to its final status.

    ``details`` holds the rail's stored fields (VPAs, a card token, a wallet id: never a PAN or CVV);
    ``public`` holds the safe fields shown to the merchant. ``payer_account`` and ``payee_account``
    are the ledger accounts the rail named at acceptance; ``next_action`` is what the customer must
    do while the payment waits on them (cleared once final). ``version`` guards concurrent saves.
    """

    def __init__(
        self,
        *,
        id: uuid.UUID,
        client_id: str,
        flow: Flow,
        method: str,
        rail: str,
        amount: Money,
        details: dict[str, Any],
        public: dict[str, Any],
        note: str | None,
        status: PaymentStatus,
        created_at: datetime,
        updated_at: datetime,
        expires_at: datetime | None = None,
        failure_code: str | None = None,
        failure_reason: str | None = None,
        lease_owner: str | None = None,
        lease_expires_at: datetime | None = None,
        version: int = 1,
        history: list[StatusChange] | None = None,
        attempts: list[RailAttempt] | None = None,
        payer_account: str | None = None,
        payee_account: str | None = None,
        next_action: dict[str, str] | None = None,
        parked_at: datetime | None = None,
        parked_reason: str | None = None,
        attempt_floor: int = 0,
    ) -> None:
        self.id = id
        self.client_id = client_id
        self.flow = flow
        self.method = method
        self.rail = rail
        self.amount = amount
        self.details = details
        self.public = public
        self.note = note
        self.status = status
        self.created_at = created_at
        self.updated_at = updated_at
        self.expires_at = expires_at
        self.failure_code = failure_code
        self.failure_reason = failure_reason
        self.lease_owner = lease_owner
        self.lease_expires_at = lease_expires_at
        self.version = version
        self.payer_account = payer_account
        self.payee_account = payee_account
        self.next_action = next_action
        self.history: list[StatusChange] = history if history is not None else []
        self.attempts: list[RailAttempt] = attempts if attempts is not None else []
        # Dead-lettered: waiting for an operator, never picked up again until requeued.
        self.parked_at = parked_at
        self.parked_reason = parked_reason
        # Attempts numbered up to here were spent before the last requeue; budgets count the rest.
        self.attempt_floor = attempt_floor
        # Rows appended since load; the repository persists only these.
        self.new_history: list[StatusChange] = []
        self.touched_attempts: set[int] = set()

    @classmethod
    def accept(
        cls,
        *,
        id: uuid.UUID,
        client_id: str,
        flow: Flow,
        method: str,
        rail: str,
        amount: Money,
        details: dict[str, Any],
        public: dict[str, Any],
        note: str | None,
        now: datetime,
        expires_at: datetime | None = None,
        payer_account: str | None = None,
        payee_account: str | None = None,
    ) -> Payment:
        """A newly accepted payment in its flow's initial status, with its first history row."""
        payment = cls(
            id=id,
            client_id=client_id,
            flow=flow,
            method=method,
            rail=rail,
            amount=amount,
            details=details,
            public=public,
            note=note,
            status=INITIAL_STATUS[flow],
            created_at=now,
            updated_at=now,
            expires_at=expires_at,
            payer_account=payer_account,
            payee_account=payee_account,
        )
        change = StatusChange(None, payment.status, now, "accepted")
        payment.history.append(change)
        payment.new_history.append(change)
        return payment

    @property
    def is_final(self) -> bool:
        return self.status in FINAL_STATUSES

    def _transition(self, to: PaymentStatus, now: datetime, reason: str, attempt: int | None) -> None:
        if not is_legal(self.flow, self.status, to):
            raise IllegalTransition(f"{self.flow} payment cannot go from {self.status} to {to}")
        change = StatusChange(self.status, to, now, reason, attempt)
        self.history.append(change)
        self.new_history.append(change)
        self.status = to
        self.updated_at = now
        if to in FINAL_STATUSES:
            self.next_action = None  # nothing is left for the customer to do

    # --- the worker's lease -------------------------------------------------------------------

    def claim(self, worker: str, now: datetime, lease_until: datetime) -> None:
        """Take this payment for processing; refuses if final or another worker's lease is live."""
        if self.is_final:
            raise IllegalTransition(f"payment is already {self.status}")
        held = self.lease_owner is not None and self.lease_owner != worker
        if held and self.lease_expires_at is not None and self.lease_expires_at > now:
            raise PaymentBusy(f"payment is leased to {self.lease_owner} until {self.lease_expires_at}")
        if self.status in (PaymentStatus.QUEUED, PaymentStatus.REQUESTED):
            self._transition(PaymentStatus.PROCESSING, now, "picked up by a worker", None)
        elif self.status is PaymentStatus.ACTION_REQUIRED:
            self._transition(PaymentStatus.PROCESSING, now, "customer action resolved", None)
        self.lease_owner = worker
        self.lease_expires_at = lease_until
        self.updated_at = now

    def release(self, now: datetime) -> None:
        """Give the lease back so a later attempt (or another worker) may continue."""
        self.lease_owner = None
        self.lease_expires_at = None
        self.updated_at = now

    # --- rail attempts ------------------------------------------------------------------------

    def start_attempt(self, now: datetime, action: str = "execute") -> RailAttempt:
        """A new attempt; polling a request that is still waiting on the payer continues the last one."""
        last = self.attempts[-1] if self.attempts else None
        if action == "status" and last is not None and last.outcome in _WAITING:
            self.touched_attempts.add(last.number)
            return last
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

    @property
    def may_have_reached_rail(self) -> bool:
        """True once any attempt was started: the rail might know this reference, so ask it first."""
        return bool(self.attempts)

    def transient_failures(self) -> int:
        """Attempts since the last requeue that ended without a definitive answer (what retry limits count)."""
        return sum(
            1
            for a in self.attempts[self.attempt_floor :]
            if a.outcome in (AttemptOutcome.TRANSIENT, AttemptOutcome.UNCERTAIN, AttemptOutcome.STARTED)
        )

    def attempts_spent(self) -> int:
        """Attempts since the last requeue that did not finish the payment (waiting polls excepted).

        On a payment that is not final this includes attempts whose rail answer could not be recorded
        (STARTED after a crash, or a final answer kept on the attempt while recording it failed).
        """
        return sum(1 for a in self.attempts[self.attempt_floor :] if a.outcome not in _WAITING)

    def may_have_moved_money(self) -> bool:
        """True if any attempt may have reached the rail and succeeded: an inconclusive answer, one
        never finished, or a success that was not recorded (the payment is not COMPLETED)."""
        possible = (AttemptOutcome.UNCERTAIN, AttemptOutcome.STARTED, AttemptOutcome.COMPLETED)
        return self.status is not PaymentStatus.COMPLETED and any(a.outcome in possible for a in self.attempts)

    # --- dead letters -------------------------------------------------------------------------

    @property
    def is_parked(self) -> bool:
        return self.parked_at is not None

    def park(self, reason: str, now: datetime) -> None:
        """Stop processing until an operator requeues it; the status (and any money moved) is left as is."""
        if self.is_final:
            raise IllegalTransition(f"payment is already {self.status}")
        self.parked_at = now
        self.parked_reason = reason
        self.release(now)

    def unpark(self, now: datetime) -> None:
        """Requeued by an operator: a fresh attempt budget (earlier attempts stay on record)."""
        if not self.is_parked:
            raise IllegalTransition("payment is not dead-lettered")
        self.parked_at = None
        self.parked_reason = None
        self.attempt_floor = len(self.attempts)
        self.updated_at = now

    # --- final outcomes -----------------------------------------------------------------------

    def complete(self, now: datetime, reason: str, attempt: int | None) -> None:
        self._transition(PaymentStatus.COMPLETED, now, reason, attempt)
        self.release(now)

    def fail(self, code: str, reason: str, now: datetime, attempt: int | None) -> None:
        self._transition(PaymentStatus.FAILED, now, reason, attempt)
        self.failure_code = code
        self.failure_reason = reason
        self.release(now)

    def decline(self, code: str, reason: str, now: datetime, attempt: int | None) -> None:
        """The payer refused: a collect request, or the action a push payment sent them to (a bank's page)."""
        self._transition(PaymentStatus.DECLINED, now, reason, attempt)
        self.failure_code = code
        self.failure_reason = reason
        self.release(now)

    def expire(self, code: str, reason: str, now: datetime, attempt: int | None) -> None:
        self._transition(PaymentStatus.EXPIRED, now, reason, attempt)
        self.failure_code = code
        self.failure_reason = reason
        self.release(now)

    def require_action(
        self, reason: str, now: datetime, attempt: int | None, next_action: dict[str, str] | None = None
    ) -> None:
        """Wait for the customer; ``next_action`` (a redirect) replaces the one kept, if given."""
        self._transition(PaymentStatus.ACTION_REQUIRED, now, reason, attempt)
        if next_action is not None:
            self.next_action = next_action
        self.release(now)

    def mark_saved(self) -> None:
        """Called by a repository after a successful save: pending rows are now stored."""
        self.new_history.clear()
        self.touched_attempts.clear()
