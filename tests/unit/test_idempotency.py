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


def _old_canonical_value(value):
    """The reference: ``canonical_value`` as it was (``json.dumps`` per string and constant); stored
    fingerprints were made with it, so the new one must give the same bytes for every input."""
    import json
    from decimal import Decimal as D

    out = []

    def emit(value):
        if isinstance(value, dict):
            out.append("{")
            for i, key in enumerate(sorted(value)):
                if i:
                    out.append(",")
                out.append(json.dumps(key, ensure_ascii=False))
                out.append(":")
                emit(value[key])
            out.append("}")
        elif isinstance(value, list):
            out.append("[")
            for i, item in enumerate(value):
                if i:
                    out.append(",")
                emit(item)
            out.append("]")
        elif isinstance(value, D):
            out.append(str(value.normalize()))
        elif isinstance(value, int) and not isinstance(value, bool):
            out.append(str(D(value).normalize()))
        else:
            out.append(json.dumps(value, ensure_ascii=False))

    emit(value)
    return "".join(out).encode()


class _Str(str):
    pass


def _outcome(canonical, document):
    """The bytes, or the kind of error (a lone surrogate, keys that do not sort): both must agree."""
    try:
        return canonical(document)
    except (TypeError, ValueError) as exc:
        return type(exc)


def _documents():
    from hypothesis import strategies as st

    text = st.text(st.characters(codec=None), max_size=8) | st.text(st.characters(min_codepoint=0, max_codepoint=0x7F))
    leaves = (
        text
        | st.builds(_Str, text)
        | st.booleans()
        | st.none()
        | st.integers()
        | st.decimals(allow_nan=False, allow_infinity=False)
        | st.floats()
    )
    keys = text | st.integers() | st.booleans() | st.none()
    return st.recursive(
        leaves,
        lambda inner: (
            st.lists(inner, max_size=4)
            | st.dictionaries(text, inner, max_size=4)
            | st.dictionaries(keys, inner, max_size=1)
        ),
        max_leaves=20,
    )


def test_canonical_value_gives_the_bytes_the_old_one_gave_for_every_document():
    from hypothesis import given, settings

    @settings(max_examples=1500, deadline=None)
    @given(_documents())
    def same(document):
        assert _outcome(canonical_value, document) == _outcome(_old_canonical_value, document)

    same()


@pytest.mark.parametrize(
    "document",
    [
        "",
        "\ud800",
        "\x00\x1f\x7f",
        'q"\\/\b\f\n\r\t',
        "é☃😀\u2028",
        _Str("s"),
        True,
        False,
        None,
        0,
        -0,
        10**30,
        1.5,
        float("nan"),
        float("-inf"),
        {"b": True, "a": [None, False, "x"]},
        {1: "a", "1": "b"},
        {True: 1},
        [[], {}],
    ],
)
def test_canonical_value_table_against_the_old_one(document):
    assert _outcome(canonical_value, document) == _outcome(_old_canonical_value, document)
