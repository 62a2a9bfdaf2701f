"""Carry one payment out against its rail: claim, ask or execute, record the outcome.

Safe to run any number of times for the same payment, from any number of workers: a final payment
is left alone, a live lease held by another worker is respected, and a payment that may already
have reached the rail is first looked up by reference, so money never moves twice.
"""

from __future__ import annotations

import enum
import uuid
from collections.abc import Callable
from datetime import datetime

import msgspec

from flosspay.application.breakers import CircuitBreakers
from flosspay.application.policies import ProcessingPolicy
from flosspay.domain.errors import ConcurrentUpdate, IllegalTransition, PaymentBusy
from flosspay.domain.ledger import completed_payment_entry
from flosspay.domain.outbox import TOPIC_PROCESS, OutboxMessage
from flosspay.domain.payment import AttemptOutcome, Payment, PaymentStatus
from flosspay.domain.ports import Clock, RailRegistry, UnitOfWork, UnitOfWorkFactory
from flosspay.domain.rail import NextAction, Outcome, RailRequest, RailResult


class Disposition(enum.StrEnum):
    """What the worker should do with the message after ``process_payment``."""

    DONE = "DONE"  # final now, or nothing to do: acknowledge
    SKIPPED = "SKIPPED"  # another worker holds it: acknowledge
    RETRY = "RETRY"  # transient: let the broker retry with backoff
    EXHAUSTED = "EXHAUSTED"  # transient on the last attempt: payment FAILED, dead-letter the message
    SCHEDULED = "SCHEDULED"  # waiting on the payer: a later check is in the outbox; acknowledge
    PARKED = "PARKED"  # attempt budget spent without a recordable end: dead-lettered for an operator; ack
    DEFERRED = "DEFERRED"  # the rail's circuit is open: rescheduled after its cool-down, no attempt used


MAX_CODE_LENGTH = 64  # the stored width of an attempt's and a payment's code


class ProcessResult(msgspec.Struct, frozen=True):
    disposition: Disposition
    detail: str = ""


def _request(payment: Payment) -> RailRequest:
    return RailRequest(
        reference=str(payment.id),
        flow=payment.flow,
        amount=payment.amount,
        details=payment.details,
        expires_at=payment.expires_at,
    )


def process_payment(
    payment_id: uuid.UUID,
    *,
    worker: str,
    uow_factory: UnitOfWorkFactory,
    rails: RailRegistry,
    clock: Clock,
    policy: ProcessingPolicy,
    breakers: CircuitBreakers | None = None,
) -> ProcessResult:
    """Process one payment once.

    Every path that brings a payment here (broker retries, the stalled sweep, recovery at start, a
    requeue) is bounded by the same budget, kept with the payment: ``policy.max_attempts`` attempts
    that did not end it, counting attempts whose answer could not be recorded. Past it the payment is
    parked. A message's own retry count is not that budget: deliveries spent on a database outage
    never reached the rail, and must not fail or park a payment after one real attempt.

    ``breakers``: while the rail's circuit is open the PSP is not called; the payment is left as it
    was, without an attempt, and handed back after the cool-down through the outbox.
    """
    # 1. Claim it and record that an attempt starts, in one committed transaction.
    with uow_factory() as uow:
        payment = uow.payments.get(payment_id)
        if payment is None:
            return ProcessResult(Disposition.DONE, "no such payment")
        if payment.is_final:
            return ProcessResult(Disposition.DONE, f"already {payment.status}")
        if payment.is_parked:
            return ProcessResult(Disposition.DONE, "dead-lettered: waiting for an operator's requeue")
        now = clock.now()
        try:
            payment.claim(worker, now, now + policy.lease)
        except PaymentBusy as exc:
            return ProcessResult(Disposition.SKIPPED, exc.detail)
        spent = payment.attempts_spent()
        if spent >= policy.max_attempts:
            reason = f"{spent} attempts without a recorded outcome; last: {_last_error(payment)}"
            payment.park(reason, now)
            disposition = Disposition.PARKED
            permit = None
        else:
            permit = breakers.acquire(payment.rail) if breakers is not None and rails.get(payment.rail) else None
            if permit is not None and not permit.allowed:
                retry_at = permit.retry_at or now
                uow.outbox.add(OutboxMessage(payment.id, TOPIC_PROCESS, retry_at))
                uow.commit()  # the claim is not saved: the payment stays as it was
                return ProcessResult(Disposition.DEFERRED, f"circuit open for {payment.rail}, retry at {retry_at}")
            ask_first = payment.may_have_reached_rail
            attempt = payment.start_attempt(now, "status" if ask_first else "execute")
        try:
            uow.payments.save(payment)
        except ConcurrentUpdate:
            return ProcessResult(Disposition.SKIPPED, "claimed concurrently by another worker")
        uow.commit()
        if payment.is_parked:
            return ProcessResult(disposition, reason)

    # 2. Talk to the rail, outside any transaction.
    rail = rails.get(payment.rail)
    request = _request(payment)
    if rail is None:
        result = RailResult(Outcome.TRANSIENT, "RAIL_DISABLED", f"rail {payment.rail!r} is not enabled here")
    else:
        result = _call_rail(rail.status if ask_first else rail.execute, request)
        if ask_first and result.outcome is Outcome.NOT_FOUND:
            result = _call_rail(rail.execute, request)
        if permit is not None and breakers is not None:
            breakers.record(payment.rail, permit, result.outcome)

    # 3. Record the outcome. Any failure here is an attempt spent: the answer is kept on the attempt.
    try:
        return _record(payment, worker, attempt.number, result, uow_factory, clock, policy)
    except Exception as exc:
        return _record_failure(payment_id, worker, attempt.number, result, exc, uow_factory, clock, policy)


def _record(
    claimed: Payment,
    worker: str,
    number: int,
    result: RailResult,
    uow_factory: UnitOfWorkFactory,
    clock: Clock,
    policy: ProcessingPolicy,
) -> ProcessResult:
    """Save the outcome on the payment as claimed, without reading it again.

    The save is an optimistic update on the version the claim wrote: if it succeeds, nobody changed
    the payment since (so the lease is still ours) and a reload would have found exactly ``claimed``.
    If it fails, the payment is read again and decided afresh, as if it had been read at first.
    """
    with uow_factory() as uow:
        try:
            return _apply_and_save(uow, claimed, number, result, clock.now(), policy)
        except ConcurrentUpdate:
            pass  # changed since the claim: the rolled-back copy is worthless, read the stored one
    return _record_reloaded(claimed.id, worker, number, result, uow_factory, clock, policy)


def _record_reloaded(
    payment_id: uuid.UUID,
    worker: str,
    number: int,
    result: RailResult,
    uow_factory: UnitOfWorkFactory,
    clock: Clock,
    policy: ProcessingPolicy,
) -> ProcessResult:
    with uow_factory() as uow:
        fresh = uow.payments.get(payment_id)
        if fresh is None or fresh.is_final or fresh.lease_owner != worker:
            return ProcessResult(Disposition.SKIPPED, "lease lost while the rail answered")
        try:
            return _apply_and_save(uow, fresh, number, result, clock.now(), policy)
        except ConcurrentUpdate:
            return ProcessResult(Disposition.SKIPPED, "changed concurrently while the rail answered")


def _apply_and_save(
    uow: UnitOfWork, payment: Payment, number: int, result: RailResult, now: datetime, policy: ProcessingPolicy
) -> ProcessResult:
    disposition = _apply(payment, number, result, now, policy)
    if disposition is Disposition.SCHEDULED:
        uow.outbox.add(OutboxMessage(payment.id, TOPIC_PROCESS, now + policy.poll_interval))
    elif disposition is Disposition.RETRY:
        # Due back by then: if the broker's retry is lost (its worker died), the stalled sweep
        # finds the payment once this passes, not only after ``stall_after``.
        payment.lease_expires_at = now + policy.retry_window
    # Money moved: its journal entry commits with the status change, or neither does.
    entry = completed_payment_entry(payment, now) if payment.status is PaymentStatus.COMPLETED else None
    uow.payments.save(payment, entry)
    uow.commit()
    return ProcessResult(disposition, f"{result.outcome}{' ' + result.code if result.code else ''}")


def _record_failure(
    payment_id: uuid.UUID,
    worker: str,
    number: int,
    result: RailResult,
    error: Exception,
    uow_factory: UnitOfWorkFactory,
    clock: Clock,
    policy: ProcessingPolicy,
) -> ProcessResult:
    """Keep the rail's answer on the attempt (money that moved is never shown FAILED); park past the budget.

    If even this fails (the database is down), the exception propagates and the attempt stays
    STARTED, which the budget counts as well.
    """
    failure = f"recording the outcome failed: {type(error).__name__}"
    with uow_factory() as uow:
        payment = uow.payments.get(payment_id)
        if payment is None or payment.is_final or payment.lease_owner != worker:
            return ProcessResult(Disposition.SKIPPED, f"lease lost after {failure}")
        now = clock.now()
        reason = f"{result.reason or result.outcome.value.lower()}; {failure}"
        payment.finish_attempt(number, _ATTEMPT_OUTCOME[result.outcome], result.code, reason, now)
        spent = payment.attempts_spent()
        if spent >= policy.max_attempts:
            answer = f"{result.outcome}{' ' + result.code if result.code else ''}"
            payment.park(f"{spent} attempts without a recorded outcome; last: rail answered {answer}, {failure}", now)
            disposition = Disposition.PARKED
        else:
            payment.release(now)
            payment.lease_expires_at = now + policy.retry_window
            disposition = Disposition.RETRY
        uow.payments.save(payment)
        uow.commit()
    return ProcessResult(disposition, payment.parked_reason or failure)


def _last_error(payment: Payment) -> str:
    for attempt in reversed(payment.attempts):
        if attempt.outcome is AttemptOutcome.STARTED:
            return "an attempt that never finished (worker stopped, or its answer could not be recorded)"
        return f"{attempt.outcome.value}{' ' + attempt.code if attempt.code else ''}: {attempt.reason or ''}".strip()
    return "no attempt"


def _call_rail(call: Callable[[RailRequest], RailResult], request: RailRequest) -> RailResult:
    """A rail must not raise, but if one does, the payment must not be lost: treat it as uncertain."""
    try:
        result = call(request)
    except Exception as exc:  # a misbehaving rail; the name of the error only, never its message
        return RailResult(Outcome.UNCERTAIN, "RAIL_ERROR", f"rail raised {type(exc).__name__}")
    if not isinstance(result, RailResult):
        return RailResult(Outcome.UNCERTAIN, "RAIL_ERROR", "rail returned no RailResult")
    if result.code is not None and len(result.code) > MAX_CODE_LENGTH:
        # A third-party rail's overlong code must not make its (real) outcome unrecordable.
        result = msgspec.structs.replace(result, code=result.code[:MAX_CODE_LENGTH])
    return result


_ATTEMPT_OUTCOME = {
    Outcome.COMPLETED: AttemptOutcome.COMPLETED,
    Outcome.DECLINED: AttemptOutcome.DECLINED,
    Outcome.PAYER_DECLINED: AttemptOutcome.PAYER_DECLINED,
    Outcome.EXPIRED: AttemptOutcome.EXPIRED,
    Outcome.TRANSIENT: AttemptOutcome.TRANSIENT,
    Outcome.UNCERTAIN: AttemptOutcome.UNCERTAIN,
    Outcome.PENDING: AttemptOutcome.PENDING,
    Outcome.ACTION_REQUIRED: AttemptOutcome.ACTION_REQUIRED,
    Outcome.NOT_FOUND: AttemptOutcome.UNCERTAIN,
}


def _apply(payment: Payment, number: int, result: RailResult, now: datetime, policy: ProcessingPolicy) -> Disposition:
    code = result.code or result.outcome.value
    reason = result.reason or result.outcome.value.lower()
    payment.finish_attempt(number, _ATTEMPT_OUTCOME[result.outcome], result.code, result.reason, now)
    outcome = result.outcome
    if outcome is Outcome.COMPLETED:
        payment.complete(now, f"rail confirmed ({code})", number)
        return Disposition.DONE
    if outcome is Outcome.DECLINED:
        payment.fail(code, reason, now, number)
        return Disposition.DONE
    if outcome is Outcome.PAYER_DECLINED:
        try:
            payment.decline(code, reason, now, number)
        except IllegalTransition:
            payment.fail(code, reason, now, number)
        return Disposition.DONE
    if outcome is Outcome.EXPIRED:
        try:
            payment.expire(code, reason, now, number)
        except IllegalTransition:
            payment.fail(code, reason, now, number)
        return Disposition.DONE
    if outcome in (Outcome.PENDING, Outcome.ACTION_REQUIRED):
        if payment.expires_at is not None and now >= payment.expires_at + policy.poll_interval * 5:
            payment.expire("EXPIRED", "the payer did not answer before the request expired", now, number)
            return Disposition.DONE
        if outcome is Outcome.ACTION_REQUIRED and payment.status is PaymentStatus.PROCESSING:
            action = result.next_action.as_dict() if isinstance(result.next_action, NextAction) else None
            try:
                payment.require_action(reason, now, number, action)
            except IllegalTransition:
                payment.release(now)
        else:
            payment.release(now)
        return Disposition.SCHEDULED
    # TRANSIENT, UNCERTAIN, NOT_FOUND after execute: retry unless this was the last attempt.
    if payment.transient_failures() >= policy.max_attempts:
        given_up = f"gave up after {payment.transient_failures()} attempts: {reason}"
        if payment.may_have_moved_money():
            # Never FAILED while the rail may have taken the money: an operator settles it.
            payment.park(f"{given_up}; an earlier attempt may have moved money", now)
            return Disposition.PARKED
        payment.fail(code, given_up, now, number)
        return Disposition.EXHAUSTED
    payment.release(now)
    return Disposition.RETRY
