"""The sandbox's imitation of the UPI network: accounts that behave by their VPA, and a debit record.

No HTTP here (``flosspay_upi.sandbox`` serves it): every operation takes a decoded JSON object and
returns a ``Reply``. All state sits behind one lock, so a reference is debited at most once no
matter how many threads ask. Behaviour is chosen by the payer's VPA local part (see README.md).
"""

from __future__ import annotations

import enum
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from flosspay.railapi import Reply
from flosspay_upi import codes
from flosspay_upi.vpa import VPA_PATTERN

MAX_REFERENCE_LENGTH = 128
FLAKY_FAILURES = 2  # a flaky payer's first two submissions of a reference get HTTP 503


class Behaviour(enum.Enum):
    """How a payer's bank and the payer act, chosen by the VPA's local-part prefix."""

    APPROVE = ""
    INSUFFICIENT = "insufficient"
    DEBIT_FAIL = "debitfail"
    WRONG_PIN = "wrongpin"
    RISK = "risk"
    TIMEOUT = "timeout"
    DEEMED = "deemed"
    FLAKY = "flaky"
    SLOW = "slow"
    DECLINE = "decline"
    IGNORE = "ignore"
    NO_REFUND = "norefund"  # pays as approved; every refund of its payments is declined (U30)

    @classmethod
    def of(cls, payer: str) -> Behaviour:
        local = payer.rsplit("@", 1)[0].casefold()
        return next((b for b in cls if b.value and local.startswith(b.value)), cls.APPROVE)


_DECLINE_CODES = {
    Behaviour.INSUFFICIENT: codes.INSUFFICIENT_FUNDS,
    Behaviour.DEBIT_FAIL: codes.DEBIT_FAILED,
    Behaviour.WRONG_PIN: codes.INVALID_MPIN,
    Behaviour.RISK: codes.RISK_THRESHOLD,
}

_STATUS_WORDS = {
    codes.SUCCESS: "SUCCESS",
    codes.PENDING: "PENDING",
    codes.DEEMED: "DEEMED",
    codes.DECLINED_BY_PAYER: "DECLINED",
    codes.COLLECT_EXPIRED: "EXPIRED",
}


class BadRequest(Exception):
    """A request the PSP refuses as malformed (HTTP 400, NPCI U07)."""


@dataclass(slots=True)
class _Txn:
    reference: str
    flow: str
    payer: str
    payee: str
    amount_minor: int
    currency: str
    expires_at: datetime | None
    behaviour: Behaviour
    created_at: datetime
    started: float
    psp_reference: str
    code: str = codes.PENDING
    execute_code: str | None = None  # what a repeated execute answers, when it differs from ``code``
    debited: bool = False
    refunded_minor: int = 0

    def same_request(self, other: _Txn) -> bool:
        return (self.flow, self.payer, self.payee, self.amount_minor, self.currency) == (
            other.flow,
            other.payer,
            other.payee,
            other.amount_minor,
            other.currency,
        )


@dataclass(slots=True)
class _State:
    payments: dict[str, _Txn] = field(default_factory=dict)
    submissions: dict[str, int] = field(default_factory=dict)
    debits: list[dict[str, Any]] = field(default_factory=list)
    refunds: dict[str, dict[str, Any]] = field(default_factory=dict)
    next_rrn: int = 1


class UpiNetwork:
    """A deterministic UPI network for tests and development. Thread-safe."""

    def __init__(
        self,
        *,
        slow_seconds: float = 3.0,
        collect_approve_seconds: float = 1.0,
        monotonic: Callable[[], float] = time.monotonic,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.slow_seconds = slow_seconds
        self.collect_approve_seconds = collect_approve_seconds
        self._monotonic = monotonic
        self._now = now
        self._lock = threading.Lock()
        self._state = _State()

    # --- operations (one per endpoint) -------------------------------------------------------

    def submit(self, payload: object) -> Reply:
        """Pay, or raise a collect request. A reference is processed once; repeats get its answer."""
        try:
            txn = self._parse_payment(payload)
        except BadRequest as exc:
            return _bad_request(str(exc))
        with self._lock:
            existing = self._state.payments.get(txn.reference)
            if existing is not None:
                if not existing.same_request(txn):
                    return _duplicate()
                self._resolve(existing)
                return Reply(200, _view(existing, existing.execute_code or existing.code))
            if txn.behaviour is Behaviour.TIMEOUT:
                return Reply(200, {"reference": txn.reference, "code": codes.PSP_TIMEOUT, "status": "TIMEOUT"})
            if txn.behaviour is Behaviour.FLAKY:
                seen = self._state.submissions.get(txn.reference, 0) + 1
                self._state.submissions[txn.reference] = seen
                if seen <= FLAKY_FAILURES:
                    return Reply(503, {"error": "PSP temporarily unavailable; nothing was debited"})
            txn.psp_reference = self._new_rrn()
            self._state.payments[txn.reference] = txn
            if txn.flow == "COLLECT":
                self._resolve(txn)
                return Reply(200, _view(txn, txn.code))
            self._settle(txn)
            delay = self.slow_seconds if txn.behaviour is Behaviour.SLOW else 0.0
            return Reply(200, _view(txn, txn.execute_code or txn.code), delay)

    def lookup(self, reference: str) -> Reply:
        """The PSP's current knowledge of ``reference`` (a pending collect may resolve now)."""
        with self._lock:
            txn = self._state.payments.get(reference)
            if txn is None:
                return _not_found()
            self._resolve(txn)
            return Reply(200, _view(txn, txn.code))

    def refund(self, payload: object) -> Reply:
        """Credit back part of a debit; refunds of one payment never add up to more than its debit."""
        try:
            refund_reference, reference, amount_minor, currency = _parse_refund(payload)
        except BadRequest as exc:
            return _bad_request(str(exc))
        with self._lock:
            done = self._state.refunds.get(refund_reference)
            if done is not None:
                if (done["reference"], done["amountMinor"], done["currency"]) != (reference, amount_minor, currency):
                    return _duplicate()
                return Reply(200, dict(done))
            txn = self._state.payments.get(reference)
            if txn is None:
                return _not_found()
            self._resolve(txn)
            refused = codes.DEBIT_FAILED if txn.behaviour is Behaviour.NO_REFUND else _refund_refusal(txn, amount_minor)
            if refused is not None:
                body = {"refundReference": refund_reference, "reference": reference, "code": refused}
                return Reply(200, body | {"error": codes.reason(refused)})
            txn.refunded_minor += amount_minor
            done = {
                "refundReference": refund_reference,
                "reference": reference,
                "amountMinor": amount_minor,
                "currency": currency,
                "code": codes.SUCCESS,
                "refundedMinor": txn.refunded_minor,
                "pspReference": self._new_rrn(),
            }
            self._state.refunds[refund_reference] = done
            # A slow payer's bank is slow to refund as well: recorded now, answered late.
            delay = self.slow_seconds if txn.behaviour is Behaviour.SLOW else 0.0
            return Reply(200, dict(done), delay)

    def refunds(self, reference: str | None = None) -> Reply:
        """Every refund made (each refund reference once), optionally of one payment's reference."""
        with self._lock:
            rows = [dict(r) for r in self._state.refunds.values() if reference is None or r["reference"] == reference]
        return Reply(200, {"refunds": rows})

    def debits(self, reference: str | None = None) -> Reply:
        """Every debit made (collects the payer approved by now included), optionally for one reference."""
        with self._lock:
            for txn in self._state.payments.values():
                self._resolve(txn)
            rows = [dict(d) for d in self._state.debits if reference is None or d["reference"] == reference]
        return Reply(200, {"debits": rows})

    def reset(self) -> Reply:
        """Forget everything (between tests)."""
        with self._lock:
            self._state = _State()
        return Reply(200, {"reset": True})

    # --- internals (called with the lock held) -----------------------------------------------

    def _new_rrn(self) -> str:
        """A 12-digit retrieval reference number, as UPI gives every transaction."""
        rrn = f"{self._state.next_rrn:012d}"
        self._state.next_rrn += 1
        return rrn

    def _settle(self, txn: _Txn) -> None:
        """The payer's bank decides: a decline code, or the one and only debit."""
        decline = _DECLINE_CODES.get(txn.behaviour)
        if decline is not None:
            txn.code = decline
            return
        if not txn.debited:
            txn.debited = True
            self._state.debits.append(
                {
                    "reference": txn.reference,
                    "payer": txn.payer,
                    "payee": txn.payee,
                    "amountMinor": txn.amount_minor,
                    "currency": txn.currency,
                    "at": self._now().isoformat(),
                }
            )
        txn.code = codes.SUCCESS
        if txn.behaviour is Behaviour.DEEMED and txn.flow == "PAY":
            txn.execute_code = codes.DEEMED

    def _resolve(self, txn: _Txn) -> None:
        """Move a pending collect on if its payer has answered or its time ran out."""
        if txn.flow != "COLLECT" or txn.code != codes.PENDING:
            return
        answered = self._monotonic() - txn.started >= self.collect_approve_seconds
        expired = txn.expires_at is not None and self._now() >= txn.expires_at
        if txn.behaviour is not Behaviour.IGNORE and answered:
            approve_at = txn.created_at.timestamp() + self.collect_approve_seconds
            if txn.expires_at is not None and approve_at > txn.expires_at.timestamp():
                txn.code = codes.COLLECT_EXPIRED
            elif txn.behaviour is Behaviour.DECLINE:
                txn.code = codes.DECLINED_BY_PAYER
            else:
                self._settle(txn)
        elif expired:
            txn.code = codes.COLLECT_EXPIRED

    def _parse_payment(self, payload: object) -> _Txn:
        if not isinstance(payload, dict):
            raise BadRequest("the body must be a JSON object")
        reference = _reference(payload, "reference")
        flow = payload.get("flow")
        if flow not in ("PAY", "COLLECT"):
            raise BadRequest("flow must be PAY or COLLECT")
        payer = _vpa(payload, "payer")
        payee = _vpa(payload, "payee")
        amount_minor = _amount(payload)
        currency = _inr(payload)
        return _Txn(
            reference=reference,
            flow=flow,
            payer=payer,
            payee=payee,
            amount_minor=amount_minor,
            currency=currency,
            expires_at=_expires_at(payload.get("expiresAt")),
            behaviour=Behaviour.of(payer),
            created_at=self._now(),
            started=self._monotonic(),
            psp_reference="",
        )


def _view(txn: _Txn, code: str) -> dict[str, Any]:
    return {
        "reference": txn.reference,
        "flow": txn.flow,
        "code": code,
        "status": _STATUS_WORDS.get(code, "FAILURE"),
        "payer": txn.payer,
        "payee": txn.payee,
        "amountMinor": txn.amount_minor,
        "currency": txn.currency,
        "refundedMinor": txn.refunded_minor,
        "pspReference": txn.psp_reference,
    }


def _refund_refusal(txn: _Txn, amount_minor: int) -> str | None:
    if not txn.debited:
        return codes.ILLEGAL_OPERATION
    if txn.refunded_minor + amount_minor > txn.amount_minor:
        return codes.AMOUNT_CAP_EXCEEDED
    return None


def _duplicate() -> Reply:
    return Reply(409, {"code": codes.DUPLICATE_REQUEST, "error": codes.reason(codes.DUPLICATE_REQUEST)})


def _not_found() -> Reply:
    return Reply(404, {"code": codes.REQUEST_NOT_FOUND, "error": codes.reason(codes.REQUEST_NOT_FOUND)})


def _bad_request(message: str) -> Reply:
    return Reply(400, {"code": codes.VALIDATION_ERROR, "error": message})


def _parse_refund(payload: object) -> tuple[str, str, int, str]:
    if not isinstance(payload, dict):
        raise BadRequest("the body must be a JSON object")
    return _reference(payload, "refundReference"), _reference(payload, "reference"), _amount(payload), _inr(payload)


def _reference(payload: dict[str, Any], key: str) -> str:
    value = payload.get(key)
    if not isinstance(value, str) or not 0 < len(value) <= MAX_REFERENCE_LENGTH or not value.isprintable():
        raise BadRequest(f"{key} must be 1-{MAX_REFERENCE_LENGTH} printable characters")
    return value


def _vpa(payload: dict[str, Any], key: str) -> str:
    value = payload.get(key)
    if not isinstance(value, str) or not VPA_PATTERN.fullmatch(value):
        raise BadRequest(f"{key} must be a UPI address like name@bank")
    return value


def _amount(payload: dict[str, Any]) -> int:
    value = payload.get("amountMinor")
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise BadRequest("amountMinor must be a positive integer number of paise")
    return value


def _inr(payload: dict[str, Any]) -> str:
    if payload.get("currency") != "INR":
        raise BadRequest("currency must be INR")
    return "INR"


def _expires_at(value: object) -> datetime | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise BadRequest("expiresAt must be an ISO 8601 timestamp or null")
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise BadRequest("expiresAt must be an ISO 8601 timestamp or null") from None
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)
