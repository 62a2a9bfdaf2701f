"""Exact value formats of the records: tokens, UUIDs, times, amounts, ids derived by uuid5."""

from __future__ import annotations

import hashlib
import re
from binascii import hexlify, unhexlify
from collections.abc import Callable
from datetime import date
from urllib.parse import quote

from flosspay.domain.chain import (
    ENTRY,
    HISTORY,
    ISO_4217,
    PAYMENT_ENTRY_NAMESPACE,
    REFUND_FINAL_STATUSES,
    REFUND_TRANSITIONS,
    TRANSITIONS,
    canonical_value,
)

ENTRY_KINDS = ("payment", "reversal", "correction", "refund")

SignatureCheck = Callable[[bytes, bytes, bytes], bool]
"""``(public_key, message, signature) -> valid`` for Ed25519."""

_tok = canonical_value
_LEGAL: frozenset[tuple[bytes, bytes, bytes]] = frozenset(
    (_tok(flow), _tok(a), _tok(b)) for flow, pairs in TRANSITIONS.items() for a, b in pairs
)
_FLOWS = frozenset(_tok(flow) for flow in TRANSITIONS)
_COMPLETED = _tok("COMPLETED")
_ENDED = frozenset(_tok(s) for s in ("FAILED", "DECLINED", "EXPIRED"))
_NULL = b"null"
_HISTORY = _tok(HISTORY)
_ENTRY = _tok(ENTRY)
_PAYMENT, _REVERSAL, _CORRECTION, _REFUND = (_tok(k) for k in ENTRY_KINDS)
_REFUND_LEGAL: frozenset[tuple[bytes, bytes]] = frozenset((_tok(a), _tok(b)) for a, b in REFUND_TRANSITIONS)
_SUCCEEDED = _tok("SUCCEEDED")
_REFUND_FAILED = _tok("FAILED")
_REFUND_ENDED = frozenset(_tok(s) for s in REFUND_FINAL_STATUSES)

_CURRENCIES = frozenset(_tok(code) for code in ISO_4217)
_AMOUNT = re.compile(rb"[1-9][0-9]{0,14}")
_ATTEMPT = re.compile(rb"[1-9][0-9]{0,8}")
_TIME_TOKEN = rb'"([0-9]{4}-[0-9]{2}-[0-9]{2})T(?:[01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9]\.[0-9]{6}Z"'
_TIME = re.compile(_TIME_TOKEN)
_UUID_TOKEN = rb'"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"'
_HAS_PAYMENT, _REVERSED, _IS_REVERSAL, _IS_REFUND = 1, 2, 4, 8
_PAYMENT_ENTRY_SIZE = 36
"""An entry's value (below) is longer than this for a payment entry only: it also holds the amount."""
_dates: dict[bytes, bool] = {}


def _valid_date(text: bytes) -> bool:
    """``YYYY-MM-DD`` is a real date (cached: an export holds few distinct days)."""
    known = _dates.get(text)
    if known is None:
        try:
            date.fromisoformat(text.decode())
            known = True
        except ValueError:
            known = False
        if len(_dates) < 100_000:
            _dates[text] = known
    return known


def _fast_time(token: bytes) -> bool:
    match = _TIME.fullmatch(token)
    return match is not None and _valid_date(match[1])


def _utf8(data: bytes) -> bool:
    try:
        data.decode()
    except UnicodeDecodeError:
        return False
    return True


_ENTRY_SEED = PAYMENT_ENTRY_NAMESPACE.bytes + b"payment:"
_REFUND_SEED = PAYMENT_ENTRY_NAMESPACE.bytes + b"refund:"


def _payment_entry_key(pid: bytes, seed: bytes = _ENTRY_SEED) -> bytes:
    """The 16 bytes of the id of payment ``pid``'s payment entry (``pid`` a token): uuid5, as docs/ledger.md §1 says.

    RFC 4122 §4.3 by hand (SHA-1 of namespace and name, version 5, variant 10): 3 us less than ``uuid``.
    With ``_REFUND_SEED``, the id of refund ``pid``'s refund entry.
    """
    digest = hashlib.sha1(seed + pid[1:-1]).digest()  # noqa: S324 (uuid5 is defined on SHA-1)
    return digest[:6] + bytes((digest[6] & 0x0F | 0x50, digest[7], digest[8] & 0x3F | 0x80)) + digest[9:16]


def _key_token(key: bytes) -> bytes:
    """The canonical UUID token of 16 id bytes."""
    h = hexlify(key)
    return b'"' + h[:8] + b"-" + h[8:12] + b"-" + h[12:16] + b"-" + h[16:20] + b"-" + h[20:] + b'"'


def _payment_entry_token(pid: bytes) -> bytes:
    """The id token of the payment entry of payment ``pid`` (a token)."""
    return _key_token(_payment_entry_key(pid))


_Facts = tuple[bytes, bytes, bytes, bytes, bytes, bytes, bytes]


def _facts(flow: bytes, currency: bytes, amount: bytes, prefix: bytes, rail: str) -> _Facts:
    """``(flow, currency, amount, debit suffix, credit suffix, facts prefix, clearing account)``."""
    debit = b"," + currency + b",-" + amount + b"]"
    credit = b"," + currency + b"," + amount + b"]"
    clearing = _clearing.get(rail)
    if clearing is None:
        clearing = (quote(rail.lower(), safe="@._~-") + ":clearing").encode()
        if len(_clearing) < 1000:
            _clearing[rail] = clearing
    return flow, currency, amount, debit, credit, prefix, clearing


_clearing: dict[str, bytes] = {}


_UUID = re.compile(rb'"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"')


def _id_key(token: bytes) -> bytes | None:
    """The 16 bytes of a UUID token (``"…"`` in the canonical lower-case form), or None if it is not one."""
    if _UUID.fullmatch(token) is None:
        return None
    return unhexlify(token[1:-1].replace(b"-", b""))


_NEXT = {b"%d" % i: b"%d" % (i + 1) for i in range(64)}


def _time_value(value: object) -> bool:
    """A parsed time field: ``YYYY-MM-DDTHH:MM:SS.ffffffZ``, a real moment."""
    return isinstance(value, str) and value.isascii() and _fast_time(_tok(value))


def _seq_of(token: bytes, fallback: int) -> int:
    """The record's own sequence number from its first token (``[12``), for placing a problem."""
    digits = token[1:]
    return int(digits) if digits.isdigit() and len(digits) < 19 else fallback


def _s(token: bytes) -> str:
    """A token for a message: strings without their quotes."""
    return token.decode(errors="replace").strip('"')


def _is_hex64(text: str) -> bool:
    return len(text) == 64 and all(c in "0123456789abcdef" for c in text)


class _Bad(Exception):
    """A rule broken by the current record."""
