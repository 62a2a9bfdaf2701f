from datetime import UTC, datetime

import pytest

from flosspay.domain.errors import IdempotencyConflict, ValidationFailed
from flosspay.domain.idempotency import (
    Decision,
    IdempotencyRecord,
    canonical_json,
    canonical_value,
    decide,
    fingerprint,
    fingerprint_value,
    validate_key,
)

pytestmark = pytest.mark.unit


@pytest.mark.parametrize("key", ["a", "order-42", "~" * 255, "!#$%&'()*+,-./:;<=>?@[]^_`{|}"])
def test_valid_keys(key):
    assert validate_key(key) == key


@pytest.mark.parametrize(
    ("key", "message"),
    [
        (None, "required"),
        ("", "required"),
        ("x" * 256, "at most 255"),
        ("has space", "visible ASCII"),
        ("tab\t", "visible ASCII"),
        ("ключ", "visible ASCII"),
        ("\x7f", "visible ASCII"),
    ],
)
def test_invalid_keys(key, message):
    with pytest.raises(ValidationFailed) as err:
        validate_key(key, "key")
    assert err.value.errors[0].field == "key"  # the domain names no header: the caller names the field
    assert message in err.value.errors[0].message


def test_canonical_json_ignores_order_spacing_and_number_spelling():
    a = canonical_json(b'{"b": [1, 2.50, {"y": true, "x": null}], "a": "28.00"}')
    b = canonical_json(b'{"a":"28.00","b":[1.0,2.5,{"x":null,"y":true}]}')
    assert a == b == b'{"a":"28.00","b":[1,2.5,{"x":null,"y":true}]}'


def test_canonical_json_keeps_strings_distinct_from_numbers():
    assert canonical_json(b'{"a":"28"}') != canonical_json(b'{"a":28}')
    assert canonical_json(b'{"a":"x\\u00e9"}') == '{"a":"xé"}'.encode()
    assert canonical_json(b'{"a":100}') == canonical_json(b'{"a":1E2}')
    assert canonical_json(b"[]") == b"[]"
    assert canonical_json(b'{"a":[1]}') != canonical_json(b'{"a":[1,1]}')


def test_fingerprint_depends_on_method_path_body_and_key():
    base = fingerprint("POST", "/api/v1/pay", b'{"a":1}', b"k")
    assert base == fingerprint("post", "/api/v1/pay", b'{ "a" : 1.0 }', b"k")
    assert base != fingerprint("PUT", "/api/v1/pay", b'{"a":1}', b"k")
    assert base != fingerprint("POST", "/api/v1/collect", b'{"a":1}', b"k")
    assert base != fingerprint("POST", "/api/v1/pay", b'{"a":2}', b"k")
    assert base != fingerprint("POST", "/api/v1/pay", b'{"a":1}', b"other")
    assert fingerprint("POST", "/p", b"", b"k") == fingerprint("POST", "/p", b"  ", b"k")
    assert fingerprint("POST", "/p", b"", b"k") != fingerprint("POST", "/p", b"{}", b"k")
    assert len(base) == 64


def _record(fp: str) -> IdempotencyRecord:
    now = datetime(2026, 1, 1, tzinfo=UTC)
    return IdempotencyRecord("c1", "k", fp, 200, b"{}", now, now)


def test_decide_replays_same_request():
    assert decide(_record("abc"), "abc") is Decision.REPLAY


def test_decide_refuses_different_request():
    with pytest.raises(IdempotencyConflict, match="different request"):
        decide(_record("abc"), "abd")


@pytest.mark.parametrize(
    "body",
    [
        b'{"amount": 28.00, "b": [1, 2.50, {"y": true, "x": null}], "a": "28"}',
        b'{"n": 100, "m": 1E2, "big": 123456789012345678901234567890, "neg": -0.0}',
        '{"\u00e9": "ü", "t": false, "s": "x\\"y"}'.encode(),
        b"{}",
    ],
)
def test_fingerprint_of_a_decoded_body_equals_that_of_its_bytes(body):
    """The HTTP adapter decodes once (msgspec, fractions as Decimal) and fingerprints the value."""
    from decimal import Decimal as D

    import msgspec

    document = msgspec.json.Decoder(float_hook=D).decode(body)
    assert fingerprint_value("POST", "/p", document, b"k") == fingerprint("POST", "/p", body, b"k")
    assert canonical_value(document) == canonical_json(body)
