"""Request bodies: one reading of every body, so what is paid is what any other parser would see.

Each test here is a row of issue 10's table and failed on the code before it.
"""

from __future__ import annotations

import json
import logging
from typing import Any

import pytest

from flosspay.adapters.http.request_body import decode_object
from flosspay.domain.errors import ValidationFailed
from tests.integration.http.http_api_support import SignedClient, assert_problem, field_errors, pay_body

pytestmark = pytest.mark.security

CARD_LIKE = '{"method":"WALLET","amount":"1.00","walletId":"w1","holder":{"name":"A","name":"B"}}'


@pytest.mark.parametrize(
    ("path", "raw", "key"),
    [
        (
            "/api/v1/pay",
            '{"senderUpi":"a@okbank","receiverUpi":"b@okaxis","amount":"1.00","amount":"9999.00"}',
            "amount",
        ),
        (
            "/api/v1/pay",
            '{"senderUpi":"a@okbank","receiverUpi":"b@okaxis","receiverUpi":"c@okaxis","amount":"1"}',
            "receiverUpi",
        ),
        ("/api/v1/payments", '{"method":"WALLET","method":"UPI","amount":"1.00","walletId":"w1"}', "method"),
        ("/api/v1/payments", CARD_LIKE, "name"),  # nested, like card.number twice
        (
            "/api/v1/collect",
            '{"senderUpi":"a@okbank","receiverUpi":"b@okaxis","amount":"1","note":"x","note":"y"}',
            "note",
        ),
    ],
)
def test_a_duplicate_key_at_any_depth_is_refused_naming_the_key(
    api: SignedClient, path: str, raw: str, key: str
) -> None:
    response = api.post(path, raw=raw.encode())
    problem = assert_problem(response, 400)
    assert key in field_errors(problem)
    assert repr(key) in problem["detail"]
    assert api.world.store.payments == {}  # nothing paid, nothing stored


def test_colons_inside_strings_are_not_mistaken_for_keys(api: SignedClient) -> None:
    response = api.post("/api/v1/pay", pay_body(note='at 10:30: ok {"a":1}'))
    assert response.status_code == 200, response.text


@pytest.mark.parametrize(
    "text",
    [
        '{"a":1,"a":1}',
        '{"a":{"b":[{"c":1,"c":2}]}}',
        '{"x":"k:v","a":1,"a":2}',
        '[{"a":1}]',
    ],
)
def test_the_reader_never_keeps_one_of_two_values(text: str) -> None:
    with pytest.raises(ValidationFailed):
        decode_object(text.encode())


@pytest.mark.parametrize("text", ['{"a":1}', '{"a:b":{"c:d":"e:f"}}', '{"a":[{"b":1},{"b":2}]}', '{"a":{"a":{"a":1}}}'])
def test_distinct_keys_pass_unchanged(text: str) -> None:
    assert decode_object(text.encode()) == json.loads(text)


@pytest.mark.parametrize(
    "minutes", ["4200000000", "5e9", str(2**63 - 1), str(2**64 + 1), "-9223372036854775809", "1e400"]
)
def test_an_out_of_range_number_is_a_400_never_a_500(api: SignedClient, minutes: str, caplog: Any) -> None:
    raw = (
        '{"senderUpi":"a@okbank","receiverUpi":"b@okaxis","amount":"1.00","expiresInMinutes":' + minutes + "}"
    ).encode()
    with caplog.at_level(logging.WARNING):
        response = api.post("/api/v1/collect", raw=raw)
    problem = assert_problem(response, 400)
    assert "expiresInMinutes" in field_errors(problem)
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


@pytest.mark.parametrize("amount", ["1e400", "99999999999999999999999999999999999999", "1e-400", str(2**70)])
def test_a_huge_or_tiny_amount_is_a_400_never_a_500(api: SignedClient, amount: str) -> None:
    raw = ('{"senderUpi":"a@okbank","receiverUpi":"b@okaxis","amount":' + amount + "}").encode()
    assert_problem(api.post("/api/v1/pay", raw=raw), 400)


@pytest.mark.parametrize("charset", ["utf-16", "UTF-16LE", "latin-1", '"iso-8859-1"', ""])
def test_a_charset_other_than_utf8_is_415(api: SignedClient, charset: str) -> None:
    response = api.post("/api/v1/pay", pay_body(), content_type=f"application/json; charset={charset}")
    problem = assert_problem(response, 415)
    assert "UTF-8" in problem["detail"]
    assert api.world.store.payments == {}


@pytest.mark.parametrize("charset", ["utf-8", "UTF-8", '"utf-8"', "utf8"])
def test_utf8_may_be_declared(api: SignedClient, charset: str) -> None:
    response = api.post("/api/v1/pay", pay_body(), content_type=f"application/json; charset={charset}")
    assert response.status_code == 200, response.text
