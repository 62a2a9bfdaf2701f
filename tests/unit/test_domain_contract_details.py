"""Exact details of the domain's answers: messages merchants read, and every field a transition writes."""

import hashlib
import hmac
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from flosspay_upi.vpa import Vpa

from flosspay.adapters.http.idempotent import idempotency_key
from flosspay.adapters.http.signature import timestamp_fresh
from flosspay.domain.errors import (
    DomainError,
    FieldError,
    IdempotencyConflict,
    IllegalTransition,
    PaymentBusy,
    ValidationFailed,
)
from flosspay.domain.idempotency import IdempotencyRecord, canonical_json, decide, fingerprint, validate_key
from flosspay.domain.money import Money, parse_currency, parse_money
from flosspay.domain.payment import (
    AttemptOutcome,
    Flow,
    Payment,
    PaymentStatus,
    RailAttempt,
    StatusChange,
)

pytestmark = pytest.mark.unit
T0 = datetime(2026, 1, 1, 12, tzinfo=UTC)
T1 = T0 + timedelta(seconds=5)
S = PaymentStatus


def message_of(call, *args):
    with pytest.raises(ValidationFailed) as err:
        call(*args)
    [error] = err.value.errors
    return error.field, error.message


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        ((28.5, "INR"), ("amount", "must be a decimal string or an exact number")),
        (("2x", "INR"), ("amount", "must be a decimal number such as 28.00")),
        ((None, "INR"), ("amount", "must be a decimal string or number")),
        (("0", "INR"), ("amount", "must be greater than zero")),
        (("1.234", "INR"), ("amount", "must have at most 2 decimal places")),
        (("10000000000000", "INR"), ("amount", "is too large")),
        (("1", "XYZ"), ("currency", "unsupported currency 'XYZ'")),
    ],
)
def test_money_messages(args, expected):
    assert message_of(parse_money, *args) == expected


def test_decimal_operation_error_is_a_field_error(monkeypatch):
    import flosspay.domain.money as money

    monkeypatch.setattr(money, "_looks_decimal", lambda text: True)
    assert message_of(parse_money, "1..2", "INR") == ("amount", "must be a decimal number such as 28.00")


def test_infinite_decimal_message():
    from decimal import Decimal

    assert message_of(parse_money, Decimal("Infinity"), "INR") == ("amount", "must be a finite number")


def test_currency_message():
    assert message_of(parse_currency, "XXX") == ("currency", "unsupported currency 'XXX'")


def test_vpa_message():
    assert message_of(Vpa.parse, "nope", "senderUpi") == ("senderUpi", "must be a UPI address like name@bank")


@pytest.mark.parametrize(
    ("key", "message"),
    [
        (None, "header is required on every POST"),
        ("x" * 256, "must be at most 255 characters"),
        ("a b", "must be visible ASCII characters only"),
    ],
)
def test_idempotency_key_messages(key, message):
    assert message_of(idempotency_key, key) == ("Idempotency-Key", message)
    if key is not None:
        assert message_of(validate_key, key) == ("idempotencyKey", message)


def test_conflict_message():
    record = IdempotencyRecord("c", "k", "fp", 200, b"{}", T0, T0)
    with pytest.raises(IdempotencyConflict) as err:
        decide(record, "other")
    assert err.value.detail == "this idempotency key was already used for a different request; use a new key"


def test_error_details_and_titles():
    error = DomainError("boom")
    assert error.detail == "boom" and str(error) == "boom" and not hasattr(error, "title")  # titles are HTTP's
    failed = ValidationFailed([FieldError("a", "x"), FieldError("b", "y")])
    assert failed.detail == "a: x; b: y" == str(failed)
    assert ValidationFailed([FieldError("a", "x")], "custom").detail == "custom"


def test_fingerprint_is_hmac_of_the_documented_bytes():
    expected = hmac.new(b"", b"POST\n/p\n" + b'{"a":1}', hashlib.sha256).hexdigest()
    assert fingerprint("post", "/p", b'{ "a": 1 }') == expected
    keyed = hmac.new(b"k", b"POST\n/p\n", hashlib.sha256).hexdigest()
    assert fingerprint("POST", "/p", b"", b"k") == keyed


def test_canonical_json_keeps_unicode_in_keys_and_values():
    assert canonical_json('{"é":"ü"}'.encode()) == '{"é":"ü"}'.encode()


def test_timestamp_length_limit_is_twelve_digits():
    assert timestamp_fresh("1" * 12, int("1" * 12))
    assert not timestamp_fresh("1" * 13, int("1" * 13))


def full_payment(**overrides):
    fields = dict(
        id=uuid.uuid4(),
        client_id="c1",
        flow=Flow.COLLECT,
        method="UPI",
        rail="upi",
        amount=Money(5, "INR"),
        details={"d": 1},
        public={"p": 2},
        note="n",
        status=S.PROCESSING,
        created_at=T0,
        updated_at=T1,
        expires_at=T1,
        failure_code="F",
        failure_reason="why",
        lease_owner="w",
        lease_expires_at=T1,
        version=7,
        history=[StatusChange(None, S.REQUESTED, T0, "accepted")],
        attempts=[RailAttempt(1, T0)],
    )
    fields.update(overrides)
    return Payment(**fields)


def test_constructor_keeps_every_field():
    p = full_payment()
    assert (p.client_id, p.flow, p.method, p.rail, p.amount) == ("c1", Flow.COLLECT, "UPI", "upi", Money(5, "INR"))
    assert (p.details, p.public, p.note, p.status) == ({"d": 1}, {"p": 2}, "n", S.PROCESSING)
    assert (p.created_at, p.updated_at, p.expires_at) == (T0, T1, T1)
    assert (p.failure_code, p.failure_reason, p.lease_owner, p.lease_expires_at, p.version) == ("F", "why", "w", T1, 7)
    assert len(p.history) == 1 and len(p.attempts) == 1
    assert p.new_history == [] and p.touched_attempts == set()
    bare = full_payment(history=None, attempts=None)
    assert bare.history == [] and bare.attempts == []


def test_accept_keeps_public_fields_and_note():
    p = Payment.accept(
        id=uuid.uuid4(),
        client_id="c",
        flow=Flow.PAY,
        method="UPI",
        rail="upi",
        amount=Money(1, "INR"),
        details={"a": 1},
        public={"b": 2},
        note="hello",
        now=T0,
    )
    assert (p.public, p.note, p.details, p.expires_at) == ({"b": 2}, "hello", {"a": 1}, None)


def test_illegal_transition_message():
    p = full_payment(status=S.REQUESTED, lease_owner=None)
    with pytest.raises(IllegalTransition) as err:
        p.complete(T1, "ok", 1)
    assert err.value.detail == "COLLECT payment cannot go from REQUESTED to COMPLETED"


def test_busy_message():
    p = full_payment(lease_owner="w1", lease_expires_at=T1)
    with pytest.raises(PaymentBusy) as err:
        p.claim("w2", T0, T1)
    assert err.value.detail == f"payment is leased to w1 until {T1}"


def _last(p):
    h = p.history[-1]
    return (h.from_status, h.to_status, h.at, h.reason, h.attempt)


@pytest.mark.parametrize(
    ("flow", "start", "reason"),
    [
        (Flow.PAY, S.QUEUED, "picked up by a worker"),
        (Flow.COLLECT, S.REQUESTED, "picked up by a worker"),
        (Flow.PAY, S.ACTION_REQUIRED, "customer action resolved"),
    ],
)
def test_claim_writes_history(flow, start, reason):
    p = full_payment(flow=flow, status=start, lease_owner=None, lease_expires_at=None)
    p.claim("w", T1, T1 + timedelta(seconds=30))
    assert _last(p) == (start, S.PROCESSING, T1, reason, None)
    assert p.new_history[-1] == p.history[-1] and p.updated_at == T1


@pytest.mark.parametrize(
    ("method", "args", "status"),
    [
        ("complete", (T1, "rail confirmed", 3), S.COMPLETED),
        ("fail", ("Z9", "no funds", T1, 3), S.FAILED),
        ("decline", ("ZA", "payer said no", T1, 3), S.DECLINED),
        ("expire", ("U69", "too late", T1, 3), S.EXPIRED),
        ("require_action", ("3ds please", T1, 3), S.ACTION_REQUIRED),
    ],
)
def test_outcomes_write_full_history_and_release(method, args, status):
    flow = Flow.PAY if status in (S.ACTION_REQUIRED,) else Flow.COLLECT
    p = full_payment(flow=flow, updated_at=T0, failure_code=None, failure_reason=None)
    getattr(p, method)(*args)
    reason = args[1] if method in ("complete",) else (args[0] if method == "require_action" else args[1])
    assert _last(p) == (S.PROCESSING, status, T1, reason, 3)
    assert p.new_history == [p.history[-1]]
    assert (p.lease_owner, p.lease_expires_at, p.updated_at) == (None, None, T1)
    if method in ("fail", "decline", "expire"):
        assert (p.failure_code, p.failure_reason) == (args[0], args[1])


def test_attempt_fields():
    p = full_payment(attempts=[])
    a = p.start_attempt(T1, "status")
    assert (a.number, a.started_at, a.action, a.outcome) == (1, T1, "status", AttemptOutcome.STARTED)
    p.finish_attempt(1, AttemptOutcome.DECLINED, "Z9", "no funds", T1 + timedelta(seconds=1))
    assert (a.outcome, a.code, a.reason, a.finished_at) == (
        AttemptOutcome.DECLINED,
        "Z9",
        "no funds",
        T1 + timedelta(seconds=1),
    )
