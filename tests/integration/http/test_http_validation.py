"""Bad input: every rule is a 400 (or 413/415) problem naming the field, and nothing is stored."""

from __future__ import annotations

import json
from typing import Any

import pytest
from http_api_support import SignedClient, assert_problem, field_errors, pay_body, signed_headers

pytestmark = pytest.mark.integration

PAY = "/api/v1/pay"
COLLECT = "/api/v1/collect"
PAYMENTS = "/api/v1/payments"


def _rejected(api: SignedClient, path: str, payload: Any, field: str, contains: str = "") -> dict[str, Any]:
    problem = assert_problem(api.post(path, payload), 400)
    errors = field_errors(problem)
    assert field in errors, errors
    assert contains.lower() in errors[field].lower(), errors
    assert problem["title"] == "Validation failed"
    assert api.world.store.payments == {}
    assert api.world.store.idempotency == {}
    return problem


@pytest.mark.parametrize(
    ("field", "value"),
    [("senderUpi", "no-at-sign"), ("senderUpi", "a@"), ("receiverUpi", "x@1bank"), ("receiverUpi", "")],
)
def test_bad_upi_address(api: SignedClient, field: str, value: str) -> None:
    _rejected(api, PAY, pay_body(**{field: value}), field, "UPI address")


@pytest.mark.parametrize("receiver", ["alice@okbank", "ALICE@OKBANK", "Alice@OkBank"])
def test_sender_and_receiver_must_differ_ignoring_case(api: SignedClient, receiver: str) -> None:
    _rejected(api, PAY, pay_body(receiverUpi=receiver), "receiverUpi", "must differ")


@pytest.mark.parametrize(
    ("amount", "message"),
    [
        ("0", "greater than zero"),
        (0, "greater than zero"),
        ("0.00", "greater than zero"),
        ("-5.00", "decimal number"),
        (-5, "greater than zero"),
        ("10.005", "at most 2 decimal places"),
        (10.005, "at most 2 decimal places"),
        (28.999999999999996, "at most 2 decimal places"),
        (1e-7, "at most 2 decimal places"),
        ("1e3", "decimal number"),
        (" 28.00", "decimal number"),
        ("28,00", "decimal number"),
        ("abc", "decimal number"),
        ("10000000000000.00", "too large"),
        (10**40, "too large"),
        (True, "decimal string or an exact number"),
        (None, "decimal string or number"),
        ([28], "decimal string or number"),
        ({"value": 28}, "decimal string or number"),
    ],
)
def test_bad_amounts(api: SignedClient, amount: Any, message: str) -> None:
    _rejected(api, PAY, pay_body(amount=amount), "amount", message)


@pytest.mark.parametrize("currency", ["XYZ", "inr", "", "RUPEES"])
def test_unknown_currency(api: SignedClient, currency: str) -> None:
    _rejected(api, PAY, pay_body(currency=currency), "currency", "unsupported currency")


def test_currency_must_be_a_string(api: SignedClient) -> None:
    _rejected(api, PAY, pay_body(currency=356), "currency", "expected `str`")


def test_several_rule_breaks_are_reported_together(api: SignedClient) -> None:
    problem = _rejected(api, PAY, pay_body(amount="0", note="n" * 256), "amount")
    assert set(field_errors(problem)) == {"amount", "note"}


def test_unknown_field(api: SignedClient) -> None:
    _rejected(api, PAY, pay_body(tip="5.00"), "tip", "not a known field")


@pytest.mark.parametrize("field", ["senderUpi", "receiverUpi", "amount"])
def test_missing_field(api: SignedClient, field: str) -> None:
    _rejected(api, PAY, pay_body(**{field: ...}), field, "is required")


def test_wrong_type(api: SignedClient) -> None:
    _rejected(api, PAY, pay_body(senderUpi=42), "senderUpi", "expected `str`")


def test_note_too_long(api: SignedClient) -> None:
    _rejected(api, PAY, pay_body(note="x" * 256), "note", "at most 255")


@pytest.mark.parametrize("minutes", [0, -1, 64801])
def test_collect_expiry_out_of_range(api: SignedClient, minutes: int) -> None:
    _rejected(api, COLLECT, pay_body(expiresInMinutes=minutes), "expiresInMinutes", "between 1 and 64800")


@pytest.mark.parametrize("minutes", ["30", 30.5, True])
def test_collect_expiry_must_be_an_integer(api: SignedClient, minutes: Any) -> None:
    _rejected(api, COLLECT, pay_body(expiresInMinutes=minutes), "expiresInMinutes", "expected `int")


def test_pay_does_not_take_an_expiry(api: SignedClient) -> None:
    _rejected(api, PAY, pay_body(expiresInMinutes=30), "expiresInMinutes", "not a known field")


def test_generic_unknown_method_names_the_enabled_ones(api: SignedClient) -> None:
    problem = _rejected(api, PAYMENTS, {"method": "BITCOIN", "amount": "1.00"}, "method", "enabled: UPI, WALLET")
    assert "BITCOIN" in field_errors(problem)["method"]


def test_generic_missing_method(api: SignedClient) -> None:
    _rejected(api, PAYMENTS, {"amount": "1.00", "walletId": "w-1"}, "method", "is required")


def test_generic_rail_fields_are_checked_by_the_rail(api: SignedClient) -> None:
    _rejected(api, PAYMENTS, {"method": "WALLET", "amount": "1.00"}, "walletId", "is required")
    _rejected(api, PAYMENTS, {"method": "WALLET", "amount": "1.00", "walletId": "w", "cvv": "1"}, "cvv", "not a known")
    _rejected(api, PAYMENTS, {"method": "WALLET", "amount": "1.00", "walletId": 7}, "walletId", "expected `str`")


def test_generic_refuses_a_collect_expiry(api: SignedClient) -> None:
    payload = {"method": "WALLET", "amount": "1.00", "walletId": "w", "expiresInMinutes": 5}
    _rejected(api, PAYMENTS, payload, "expiresInMinutes", "collect")


def test_generic_amount_and_currency_rules_apply(api: SignedClient) -> None:
    _rejected(api, PAYMENTS, {"method": "WALLET", "amount": "1.001", "walletId": "w"}, "amount", "decimal places")
    _rejected(api, PAYMENTS, {"method": "WALLET", "amount": 1, "currency": "ZZZ", "walletId": "w"}, "currency")


@pytest.mark.parametrize("key", ["has space", "tab\tkey", "k" * 256, "ключ"])
def test_bad_idempotency_key(api: SignedClient, key: str) -> None:
    body = json.dumps(pay_body()).encode()
    wire = key.encode()
    # The key is signed as the server reads it (header bytes as Latin-1), so only its shape is wrong.
    headers: dict[str, Any] = signed_headers("POST", PAY, body, timestamp=api.now(), key=wire.decode("latin-1"))
    headers.update({"Idempotency-Key": wire, "Content-Type": "application/json"})
    problem = assert_problem(api.http.post(PAY, content=body, headers=headers), 400)
    assert "Idempotency-Key" in field_errors(problem)
    assert api.world.store.payments == {}


def test_missing_idempotency_key(api: SignedClient) -> None:
    problem = assert_problem(api.post(PAY, pay_body(), key=None), 400)
    assert field_errors(problem) == {"Idempotency-Key": "header is required on every POST"}
    assert api.world.store.payments == {}


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded", "application/jsonx", None])
def test_unsupported_media_type(api: SignedClient, content_type: str | None) -> None:
    problem = assert_problem(api.post(PAY, pay_body(), content_type=content_type), 415)
    assert "application/json" in problem["detail"]
    assert api.world.store.payments == {}


def test_json_with_charset_is_fine(api: SignedClient) -> None:
    response = api.post(PAY, pay_body(), content_type="application/json; charset=utf-8")
    assert response.status_code == 200, response.text


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (b"{not json", "not valid JSON"),
        (b'{"amount": NaN}', "not valid JSON"),
        (b"\xff\xfe{}", "not valid JSON"),
        (b'{"a":1} trailing', "not valid JSON"),
        (b"", "is required"),
        (b"[]", "must be a JSON object"),
        (b'"text"', "must be a JSON object"),
        (b"[" * 5000 + b"]" * 5000, "must be a JSON object"),
        (b'{"amount":' + b"9" * 5000 + b"}", "Integer value out of range"),
    ],
)
def test_malformed_json(api: SignedClient, raw: bytes, message: str) -> None:
    problem = assert_problem(api.post(PAY, raw=raw), 400)
    assert message in field_errors(problem)["body"]


def test_deeply_nested_rail_field_is_a_clear_400(api: SignedClient) -> None:
    raw = b'{"method":"WALLET","amount":"1.00","walletId":' + b"[" * 3000 + b"]" * 3000 + b"}"
    problem = assert_problem(api.post(PAYMENTS, raw=raw), 400)
    assert "body" in field_errors(problem) or "walletId" in field_errors(problem)


def test_body_over_the_limit_is_413(api: SignedClient) -> None:
    raw = b'{"note":"' + b"x" * 70_000 + b'"}'
    problem = assert_problem(api.post(PAY, raw=raw), 413)
    assert "too large" in problem["detail"]
    assert api.world.store.payments == {}


def test_body_just_under_the_limit_is_read(api: SignedClient) -> None:
    filler = "x" * (65536 - 200)
    problem = assert_problem(api.post(PAY, pay_body(pad=filler)), 400)  # read and validated, not 413
    assert "pad" in field_errors(problem)


def test_rejected_requests_store_nothing_at_all(api: SignedClient) -> None:
    api.post(PAY, pay_body(amount="0"))
    api.post(PAY, raw=b"{")
    api.post(PAY, pay_body(), content_type="text/plain")
    assert api.world.store.commits == 0
    assert api.world.store.outbox == []


@pytest.mark.parametrize("path", [PAY, COLLECT, PAYMENTS])
@pytest.mark.parametrize("field", ["senderUpi", "receiverUpi"])
def test_an_address_too_long_to_record_is_refused_before_any_money_moves(
    api: SignedClient, path: str, field: str
) -> None:
    """Issue 9: a 248-character address was accepted, debited, and could never be recorded."""
    payload = pay_body(**{field: "b" * 243 + "@bank"})
    if path == PAYMENTS:
        payload = {"method": "UPI", **payload}
    _rejected(api, path, payload, field)  # and nothing stored
