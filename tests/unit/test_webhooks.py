"""Webhook rules: the Standard Webhooks reference vector, receiver-side verify, events, retries, breaker, SSRF."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
import standardwebhooks

from flosspay import webhooks as receiver_side
from flosspay.adapters.webhooks.signing import sign, signature_header
from flosspay.domain.errors import ValidationFailed
from flosspay.domain.payment import PaymentStatus, StatusChange
from flosspay.domain.webhooks import (
    DEFAULT_RETRY_SCHEDULE,
    BreakerRule,
    BreakerState,
    EventType,
    address_refused,
    breaker_after,
    breaker_allows,
    check_events,
    check_url,
    event_id,
    events_for,
    new_secret,
    next_attempt,
    parse_duration,
    secret_key,
)

pytestmark = pytest.mark.unit

KEY = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
MSG = "msg_p5jXN8AQM9LWM0D4loKWxJek"
TS = 1614265330
BODY = b'{"test": 2432232314}'
EXPECTED = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
T0 = datetime(2026, 1, 1, tzinfo=UTC)


def test_the_standard_webhooks_reference_vector() -> None:
    assert sign(KEY, MSG, TS, BODY) == EXPECTED
    assert receiver_side.sign(KEY, MSG, TS, BODY) == EXPECTED


def test_verify_accepts_the_reference_vector_and_refuses_tampering() -> None:
    headers = {"webhook-id": MSG, "webhook-timestamp": str(TS), "webhook-signature": EXPECTED}
    assert receiver_side.verify(KEY, headers, BODY, now=TS + 10) == {"test": 2432232314}
    with pytest.raises(receiver_side.WebhookVerificationError, match="signature"):
        receiver_side.verify(KEY, headers, b'{"test": 2432232315}', now=TS)
    with pytest.raises(receiver_side.WebhookVerificationError, match="tolerance"):
        receiver_side.verify(KEY, headers, BODY, now=TS + 301)
    with pytest.raises(receiver_side.WebhookVerificationError, match="missing"):
        receiver_side.verify(KEY, {"webhook-id": MSG}, BODY, now=TS)
    wrong = {**headers, "webhook-id": "msg_other"}
    with pytest.raises(receiver_side.WebhookVerificationError):
        receiver_side.verify(KEY, wrong, BODY, now=TS)


def test_during_a_rotation_both_signatures_are_sent_and_either_secret_verifies() -> None:
    old, new = new_secret(), new_secret()
    header = signature_header([new, old], MSG, TS, BODY)
    assert len(header.split(" ")) == 2
    for secret in (old, new):
        assert receiver_side.verify(
            secret, {"webhook-id": MSG, "webhook-timestamp": str(TS), "webhook-signature": header}, BODY, now=TS
        )
    # The official package agrees.
    wh = standardwebhooks.Webhook(old)
    headers = {"webhook-id": MSG, "webhook-timestamp": str(int(datetime.now(UTC).timestamp())), "webhook-signature": ""}
    headers["webhook-signature"] = signature_header([new, old], MSG, int(headers["webhook-timestamp"]), BODY)
    assert wh.verify(BODY, headers) == {"test": 2432232314}


def test_secrets_are_whsec_and_24_to_64_random_bytes() -> None:
    a, b = new_secret(), new_secret()
    assert a.startswith("whsec_") and a != b
    assert 24 <= len(secret_key(a)) <= 64


def _change(to: PaymentStatus, frm: PaymentStatus | None = PaymentStatus.PROCESSING) -> StatusChange:
    return StatusChange(frm, to, T0, "r", None)


def test_events_come_from_final_statuses_and_the_first_action_required_only() -> None:
    done = _change(PaymentStatus.COMPLETED)
    assert events_for([_change(PaymentStatus.QUEUED, None), done], [done]) == [(EventType.PAYMENT_COMPLETED, done)]
    assert events_for([_change(PaymentStatus.PROCESSING)], [_change(PaymentStatus.PROCESSING)]) == []
    first = _change(PaymentStatus.ACTION_REQUIRED)
    assert events_for([first], [first]) == [(EventType.PAYMENT_ACTION_REQUIRED, first)]
    again = _change(PaymentStatus.ACTION_REQUIRED)
    history = [first, _change(PaymentStatus.PROCESSING, PaymentStatus.ACTION_REQUIRED), again]
    assert events_for(history, [again]) == []
    for status, event in [
        (PaymentStatus.FAILED, EventType.PAYMENT_FAILED),
        (PaymentStatus.DECLINED, EventType.PAYMENT_DECLINED),
        (PaymentStatus.EXPIRED, EventType.PAYMENT_EXPIRED),
    ]:
        change = _change(status)
        assert events_for([change], [change]) == [(event, change)]


def test_event_ids_are_stable_per_payment_and_type() -> None:
    pid = uuid.uuid4()
    assert event_id(pid, EventType.PAYMENT_COMPLETED) == event_id(pid, EventType.PAYMENT_COMPLETED)
    assert event_id(pid, EventType.PAYMENT_COMPLETED) != event_id(pid, EventType.PAYMENT_FAILED)
    assert event_id(pid, EventType.PAYMENT_COMPLETED).startswith("msg_")


def test_the_default_schedule_and_dead_lettering() -> None:
    assert [s.total_seconds() for s in DEFAULT_RETRY_SCHEDULE] == [5, 300, 1800, 7200, 18000, 36000, 36000]
    assert next_attempt(1, DEFAULT_RETRY_SCHEDULE, T0) == T0 + timedelta(seconds=5)
    assert next_attempt(7, DEFAULT_RETRY_SCHEDULE, T0) == T0 + timedelta(hours=10)
    assert next_attempt(8, DEFAULT_RETRY_SCHEDULE, T0) is None
    assert parse_duration("5m") == timedelta(minutes=5) and parse_duration("0.2") == timedelta(seconds=0.2)
    assert parse_duration("200ms") == timedelta(seconds=0.2) and parse_duration("2h") == timedelta(hours=2)
    with pytest.raises(ValueError):
        parse_duration("soon")


def test_the_breaker_opens_after_consecutive_failures_and_a_success_closes_it() -> None:
    rule = BreakerRule(threshold=3, cooldown=timedelta(seconds=60))
    state = BreakerState()
    for _ in range(2):
        state = breaker_after(rule, state, False, T0)
    assert state.open_until is None and breaker_allows(rule, state, T0)
    state = breaker_after(rule, state, False, T0)
    assert state.open_until == T0 + timedelta(seconds=60)
    assert not breaker_allows(rule, state, T0 + timedelta(seconds=59))
    assert breaker_allows(rule, state, T0 + timedelta(seconds=60))
    assert breaker_after(rule, state, True, T0) == BreakerState()


@pytest.mark.parametrize(
    "address",
    [
        "127.0.0.1",
        "::1",
        "10.0.0.5",
        "192.168.1.1",
        "172.16.0.1",
        "169.254.169.254",
        "fe80::1",
        "224.0.0.1",
        "ff02::1",
        "0.0.0.0",
        "::ffff:127.0.0.1",
        "100.64.0.1",
        "fd00::1",
    ],
)
def test_unsafe_addresses_are_refused_unless_private_urls_are_allowed(address: str) -> None:
    assert address_refused(address, allow_private=False) is not None
    assert address_refused(address, allow_private=True) is None


def test_public_addresses_are_allowed() -> None:
    assert address_refused("93.184.216.34", False) is None
    assert address_refused("2606:4700::1111", False) is None


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("http://example.com/h", "https"),
        ("ftp://example.com/h", "https"),
        ("https://user:pw@example.com/h", "credentials"),
        ("https:///h", "host"),
        ("https://example.com/h#frag", "fragment"),
        ("https://example.com:99999/h", "valid"),
        ("", "required"),
    ],
)
def test_bad_urls_are_refused(url: str, message: str) -> None:
    with pytest.raises(ValidationFailed) as caught:
        check_url(url, allow_private=False)
    assert message in caught.value.errors[0].message
    assert caught.value.errors[0].field == "url"


def test_http_is_accepted_only_where_private_urls_are_allowed() -> None:
    assert check_url("http://10.0.0.2:8080/h", allow_private=True) == "http://10.0.0.2:8080/h"
    assert check_url("https://example.com/h", allow_private=False) == "https://example.com/h"


def test_events_default_to_all_and_unknown_ones_are_refused() -> None:
    assert check_events(None) == tuple(EventType)
    assert check_events(["payment.failed", "payment.completed", "payment.failed"]) == (
        EventType.PAYMENT_COMPLETED,
        EventType.PAYMENT_FAILED,
    )
    with pytest.raises(ValidationFailed):
        check_events(["payment.refunded"])
    with pytest.raises(ValidationFailed):
        check_events([])


def test_the_receiver_module_needs_only_the_standard_library() -> None:
    import ast
    import inspect

    tree = ast.parse(inspect.getsource(receiver_side))
    imported = {a.name.split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    imported |= {n.module.split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module}
    assert imported <= {"__future__", "base64", "hashlib", "hmac", "json", "time", "collections", "typing"}


def test_a_lease_outlasts_a_whole_batch_of_timed_out_sends() -> None:
    from flosspay.domain.webhooks import WebhookPolicy

    policy = WebhookPolicy(timeout=timedelta(seconds=10), batch=100, concurrency=8)
    assert policy.lease == timedelta(seconds=10 * 14 + 1)  # 13 waves of sends, then time to record them
    assert WebhookPolicy(timeout=timedelta(seconds=1), batch=8, concurrency=8).lease == timedelta(seconds=3)
