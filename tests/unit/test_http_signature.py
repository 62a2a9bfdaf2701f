import base64
import hashlib
import hmac

import pytest

from flosspay.adapters.http.signature import canonical_request, sign, timestamp_fresh, verify

pytestmark = pytest.mark.unit


def test_canonical_is_newline_join_with_raw_body():
    assert canonical_request("post", "/api/v1/pay?x=1", "1700000000", "k1", b'{"a":1}') == (
        b'POST\n/api/v1/pay?x=1\n1700000000\nk1\n{"a":1}'
    )
    assert canonical_request("GET", "/p", "1", "", b"") == b"GET\n/p\n1\n\n"


def test_sign_is_base64_hmac_sha256():
    expected = base64.b64encode(hmac.new(b"s3cret", b"data", hashlib.sha256).digest()).decode()
    assert sign("s3cret", b"data") == expected


def test_verify():
    sig = sign("s3cret", b"data")
    assert verify("s3cret", b"data", sig)
    assert not verify("other", b"data", sig)
    assert not verify("s3cret", b"datA", sig)
    assert not verify("s3cret", b"data", "")


@pytest.mark.parametrize(
    ("ts", "now", "ok"),
    [
        ("1000", 1000, True),
        ("1300", 1000, True),
        ("700", 1000, True),
        ("1301", 1000, False),
        ("699", 1000, False),
        ("-5", 1000, False),
        ("12a", 1000, False),
        ("", 1000, False),
        ("1" * 13, 1000, False),
        ("١٠٠٠", 1000, False),
    ],
)
def test_timestamp_window(ts, now, ok):
    assert timestamp_fresh(ts, now) is ok


def test_custom_skew():
    assert timestamp_fresh("1010", 1000, skew=10)
    assert not timestamp_fresh("1011", 1000, skew=10)
