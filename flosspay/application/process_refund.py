"""Carry one refund out at its payment's rail: claim, call the rail's refund, record the outcome.

Safe to run any number of times for the same refund, from any number of workers: a final refund is
left alone, a live lease held by another worker is respected, and every call to the rail names the
refund's id as its reference. Rails refund idempotently by that reference, so a call repeated after a
crash (or after an unclear answer) is answered with what the first one did and never refunds twice.
"""

from __future__ import annotations

import uuid
from datetime import datetime

import msgspec

from flosspay.application.policies import ProcessingPolicy
from flosspay.application.process import Disposition, ProcessResult
from flosspay.domain.errors import ConcurrentUpdate, PaymentBusy
from flosspay.domain.ledger import LedgerError, payment_entry_id, refund_entry
from flosspay.domain.payment import AttemptOutcome, Payment
from flosspay.domain.ports import Clock, RailRegistry, UnitOfWork, UnitOfWorkFactory
from flosspay.domain.rail import Outcome, RailRequest, RefundResult
from flosspay.domain.refund import Refund

MAX_CODE_LENGTH = 64

_ATTEMPT_OUTCOME = {
    Outcome.COMPLETED: AttemptOutcome.COMPLETED,
    Outcome.DECLINED: AttemptOutcome.DECLINED,
    Outcome.PAYER_DECLINED: AttemptOutcome.DECLINED,
    Outcome.EXPIRED: AttemptOutcome.DECLINED,
    Outcome.TRANSIENT: AttemptOutcome.TRANSIENT,
}
# Anything else (UNCERTAIN, NOT_FOUND, PENDING, ACTION_REQUIRED) is an unclear answer: the refund may
# have happened, so it is asked again under the same reference, and never FAILED on its strength.
_DEFINITE_REFUSALS = frozenset({Outcome.DECLINED, Outcome.PAYER_DECLINED, Outcome.EXPIRED})


def _request(payment: Payment) -> RailRequest:
    return RailRequest(
        reference=str(payment.id),
        flow=payment.flow,
        amount=payment.amount,
        details=payment.details,
        expires_at=payment.expires_at,
    )


def _fail(uow: UnitOfWork, refund: Refund, code: str, reason: str, now: datetime, attempt: int | None) -> None:
    """FAILED, and its reservation released in the same transaction (the money is refundable again)."""
    refund.fail(code, reason, now, attempt)
    uow.refunds.release(refund.payment_id, refund.amount.minor)


def process_refund(
    refund_id: uuid.UUID,
    *,
    worker: str,
    uow_factory: UnitOfWorkFactory,
    rails: RailRegistry,
    clock: Clock,
    policy: ProcessingPolicy,
) -> ProcessResult:
    """Process one refund once. Bounded by the same budget as payments (``policy.max_attempts``
    attempts kept with the refund, not the message's retry count); past it a refund that may have
    moved money is parked for an operator, one that surely did not is FAILED and released."""
    # 1. Claim it and record that an attempt starts, in one committed transaction.
    with uow_factory() as uow:
        refund = uow.refunds.get(refund_id)
        if refund is None:
            return ProcessResult(Disposition.DONE, "no such refund")
        if refund.is_final:
            return ProcessResult(Disposition.DONE, f"already {refund.status}")
        if refund.is_parked:
            return ProcessResult(Disposition.DONE, "dead-lettered: waiting for an operator's requeue")
        payment = uow.payments.get(refund.payment_id)
        if payment is None:  # the foreign key makes this impossible; never call a rail blind
            return ProcessResult(Disposition.DONE, "refund of a missing payment")
        now = clock.now()
        try:
            refund.claim(worker, now, now + policy.lease)
        except PaymentBusy as exc:
            return ProcessResult(Disposition.SKIPPED, exc.detail)
        spent = refund.attempts_spent()
        disposition: Disposition | None = None
        if spent >= policy.max_attempts:
            reason = f"{spent} attempts without a recorded outcome; last: {_last_error(refund)}"
            if refund.may_have_moved_money():
                refund.park(reason, now)
                disposition = Disposition.PARKED
            else:
                _fail(uow, refund, "ATTEMPTS_EXHAUSTED", reason, now, None)
                disposition = Disposition.EXHAUSTED
        else:
            attempt = refund.start_attempt(now)
        try:
            uow.refunds.save(refund)
        except ConcurrentUpdate:
            return ProcessResult(Disposition.SKIPPED, "claimed concurrently by another worker")
        uow.commit()
        if disposition is not None:
            return ProcessResult(disposition, reason)

    # 2. Talk to the rail, outside any transaction.
    rail = rails.get(payment.rail)
    if rail is None:
        result = RefundResult(Outcome.TRANSIENT, "RAIL_DISABLED", f"rail {payment.rail!r} is not enabled here")
    else:
        result = _call_rail(rail.refund, _request(payment), refund)

    # 3. Record the outcome. Any failure here is an attempt spent: the answer is kept on the attempt.
    try:
        return _record(refund_id, worker, attempt.number, result, uow_factory, clock, policy)
    except Exception as exc:
        return _record_failure(refund_id, worker, attempt.number, result, exc, uow_factory, clock, policy)


def _call_rail(call: object, request: RailRequest, refund: Refund) -> RefundResult:
    """A rail must not raise; if one does, the refund is not lost: treat it as uncertain."""
    try:
        result = call(request, refund.amount, str(refund.id))  # type: ignore[operator]
    except Exception as exc:  # the error's name only, never its message
        return RefundResult(Outcome.UNCERTAIN, "RAIL_ERROR", f"rail raised {type(exc).__name__}")
    if not isinstance(result, RefundResult):
        return RefundResult(Outcome.UNCERTAIN, "RAIL_ERROR", "rail returned no RefundResult")
    if result.code is not None and len(result.code) > MAX_CODE_LENGTH:
        result = msgspec.structs.replace(result, code=result.code[:MAX_CODE_LENGTH])
    return result


def _record(
    refund_id: uuid.UUID,
    worker: str,
    number: int,
    result: RefundResult,
    uow_factory: UnitOfWorkFactory,
    clock: Clock,
    policy: ProcessingPolicy,
) -> ProcessResult:
    with uow_factory() as uow:
        refund = uow.refunds.get(refund_id)
        if refund is None or refund.is_final or refund.lease_owner != worker:
            return ProcessResult(Disposition.SKIPPED, "lease lost while the rail answered")
        now = clock.now()
        outcome = result.outcome
        code = result.code or outcome.value
        reason = result.reason or outcome.value.lower()
        refund.finish_attempt(number, _ATTEMPT_OUTCOME.get(outcome, AttemptOutcome.UNCERTAIN), result.code, reason, now)
        entry = None
        if outcome is Outcome.COMPLETED:
            payment_entry = uow.ledger.get(payment_entry_id(refund.payment_id))
            if payment_entry is None:
                raise LedgerError(f"payment {refund.payment_id} has no payment entry to refund against")
            refund.succeed(now, f"rail confirmed ({code})", number)
            entry = refund_entry(payment_entry, refund.id, refund.amount, now)
            disposition = Disposition.DONE
        elif outcome in _DEFINITE_REFUSALS:
            _fail(uow, refund, code, reason, now, number)
            disposition = Disposition.DONE
        elif refund.attempts_spent() >= policy.max_attempts:
            given_up = f"gave up after {refund.attempts_spent()} attempts: {reason}"
            if refund.may_have_moved_money():
                refund.park(f"{given_up}; an earlier attempt may have moved money", now)
                disposition = Disposition.PARKED
            else:
                _fail(uow, refund, code, given_up, now, number)
                disposition = Disposition.EXHAUSTED
        else:
            refund.release(now)
            # Due back by then: if the broker's retry is lost, the stalled sweep finds it once this passes.
            refund.lease_expires_at = now + policy.retry_window
            disposition = Disposition.RETRY
        try:
            uow.refunds.save(refund)
        except ConcurrentUpdate:
            return ProcessResult(Disposition.SKIPPED, "changed concurrently while the rail answered")
        if entry is not None:
            # Money went back: its journal entry commits with SUCCEEDED, or neither does.
            uow.ledger.add(entry)
        uow.commit()
    return ProcessResult(disposition, f"{outcome}{' ' + result.code if result.code else ''}")


def _record_failure(
    refund_id: uuid.UUID,
    worker: str,
    number: int,
    result: RefundResult,
    error: Exception,
    uow_factory: UnitOfWorkFactory,
    clock: Clock,
    policy: ProcessingPolicy,
) -> ProcessResult:
    """Keep the rail's answer on the attempt (a refund that went through is never FAILED); park past the budget."""
    failure = f"recording the outcome failed: {type(error).__name__}"
    with uow_factory() as uow:
        refund = uow.refunds.get(refund_id)
        if refund is None or refund.is_final or refund.lease_owner != worker:
            return ProcessResult(Disposition.SKIPPED, f"lease lost after {failure}")
        now = clock.now()
        reason = f"{result.reason or result.outcome.value.lower()}; {failure}"
        outcome = _ATTEMPT_OUTCOME.get(result.outcome, AttemptOutcome.UNCERTAIN)
        refund.finish_attempt(number, outcome, result.code, reason, now)
        if refund.attempts_spent() >= policy.max_attempts:
            refund.park(f"{refund.attempts_spent()} attempts without a recorded outcome; last: {reason}", now)
            disposition = Disposition.PARKED
        else:
            refund.release(now)
            refund.lease_expires_at = now + policy.retry_window
            disposition = Disposition.RETRY
        uow.refunds.save(refund)
        uow.commit()
    return ProcessResult(disposition, refund.parked_reason or failure)


def _last_error(refund: Refund) -> str:
    for attempt in reversed(refund.attempts):
        if attempt.outcome is AttemptOutcome.STARTED:
            return "an attempt that never finished (worker stopped, or its answer could not be recorded)"
        return f"{attempt.outcome.value}{' ' + attempt.code if attempt.code else ''}: {attempt.reason or ''}".strip()
    return "no attempt"
