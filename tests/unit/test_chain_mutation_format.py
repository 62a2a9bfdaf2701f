"""The chain format byte for byte: canonical values, times, links and every export line shape.

Each expected value here is written out from docs/ledger.md or computed independently with
``hashlib``, so any change to the encoding (a separator, an escape, a key, a field order) fails.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from datetime import UTC, datetime, timedelta, timezone, tzinfo

import pytest

from flosspay.domain.chain import (
    CHECKPOINT_TAG,
    ENTRY,
    EXPORT_FORMAT,
    EXPORT_VERSION,
    GENESIS,
    HISTORY,
    ChainHead,
    ChainLink,
    Checkpoint,
    EntryFacts,
    HistoryFacts,
    Pending,
    canonical,
    canonical_object,
    canonical_value,
    checkpoint_line,
    checkpoint_message,
    end_line,
    format_time,
    header_line,
    link_all,
    link_hash,
    parse_time,
    record_line,
)

pytestmark = pytest.mark.unit

P1 = uuid.UUID("00000000-0000-4000-8000-000000000001")
E1 = uuid.UUID("00000000-0000-4000-8000-000000000002")
T0 = datetime(2026, 1, 1, 12, 0, 0, 123456, tzinfo=UTC)
H_AB = bytes(range(32))
H_AB_HEX = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"


def sha(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


# --- constants and values --------------------------------------------------------------------------


def test_the_format_constants_are_those_of_the_spec() -> None:
    assert GENESIS == b"\x00" * 32
    assert (EXPORT_FORMAT, EXPORT_VERSION, CHECKPOINT_TAG) == ("flosspay-ledger-export", 2, "flosspay-checkpoint")
    assert (HISTORY, ENTRY) == ("history", "entry")


def test_canonical_writes_compact_utf8_json_and_refuses_what_the_spec_has_no_form_for() -> None:
    assert canonical([1, -2, None, "é/€\x7f", ["a", 0]]) == '[1,-2,null,"é/€\x7f",["a",0]]'.encode()
    assert canonical_value("a\u2028b") == '"a\u2028b"'.encode()  # written as itself, not escaped
    assert canonical_value(-15) == b"-15"
    assert canonical_value(None) == b"null"
    for not_a_number in (float("nan"), float("inf"), float("-inf")):
        with pytest.raises(ValueError):
            canonical([not_a_number])
        with pytest.raises(ValueError):
            canonical_value(not_a_number)


def test_canonical_object_keeps_the_given_key_order_without_whitespace() -> None:
    assert canonical_object({"z": 1, "a": [None, "é"]}) == '{"z":1,"a":[null,"é"]}'.encode()


def test_link_hash_is_sha256_of_the_previous_hash_then_the_record() -> None:
    assert link_hash(H_AB, b"[1]") == sha(H_AB + b"[1]")
    assert link_hash(GENESIS, b"") == sha(bytes(32))
    assert link_hash(b"x", b"y") != link_hash(b"y", b"x")


# --- times -----------------------------------------------------------------------------------------


class _NoOffset(tzinfo):
    """An aware-looking tzinfo that knows no offset: a naive time in disguise."""

    def utcoffset(self, dt: datetime | None) -> timedelta | None:
        return None

    def dst(self, dt: datetime | None) -> timedelta | None:
        return None

    def tzname(self, dt: datetime | None) -> str | None:
        return None


def test_format_time_is_utc_with_every_field_zero_padded() -> None:
    minus = timezone(-timedelta(hours=3))
    assert format_time(datetime(2026, 12, 31, 22, 59, 58, 999999, tzinfo=minus)) == "2027-01-01T01:59:58.999999Z"
    assert format_time(datetime(5, 2, 3, 4, 5, 6, 70, tzinfo=UTC)) == "0005-02-03T04:05:06.000070Z"
    assert format_time(datetime(2026, 11, 12, 13, 14, 15, 161718, tzinfo=UTC)) == "2026-11-12T13:14:15.161718Z"


def test_format_time_refuses_naive_times_with_a_message_naming_them() -> None:
    naive = datetime(2026, 1, 1)
    with pytest.raises(ValueError) as refused:
        format_time(naive)
    assert str(refused.value) == f"refusing a naive datetime {naive!r} in the chain"
    disguised = datetime(2026, 1, 1, tzinfo=_NoOffset())
    with pytest.raises(ValueError) as refused_too:
        format_time(disguised)
    assert str(refused_too.value) == f"refusing a naive datetime {disguised!r} in the chain"


def test_parse_time_is_the_strict_inverse_of_format_time() -> None:
    parsed = parse_time("2026-11-12T13:14:15.161718Z")
    assert parsed == datetime(2026, 11, 12, 13, 14, 15, 161718, tzinfo=UTC)
    assert parsed.tzinfo is UTC
    assert parse_time("0005-02-03T04:05:06.000070Z") == datetime(5, 2, 3, 4, 5, 6, 70, tzinfo=UTC)


@pytest.mark.parametrize(
    "text",
    [
        "2026-01-01T12:00:00Z",  # no fraction
        "2026-01-01T12:00:00.12345Z",  # 26 characters
        "2026-01-01T12:00:00.1234567Z",  # 28 characters
        "2026-01-01T12:00:00.1234567",  # 27 characters, no Z
        "2026-01-01T12:00:00.123456+",  # 27 characters, no Z
        "",
    ],
)
def test_parse_time_refuses_anything_but_the_chain_form_naming_it(text: str) -> None:
    with pytest.raises(ValueError) as refused:
        parse_time(text)
    assert str(refused.value) == f"not a chain timestamp: {text!r}"


def test_parse_time_refuses_a_27_character_z_string_of_the_wrong_layout() -> None:
    with pytest.raises(ValueError, match="does not match format"):
        parse_time("2026/01/01 12:00:00.123456Z")


# --- records and links -----------------------------------------------------------------------------


def _history(**overrides: object) -> HistoryFacts:
    fields: dict[str, object] = {
        "payment_id": P1,
        "index": 3,
        "from_status": "PROCESSING",
        "to_status": "COMPLETED",
        "attempt": 2,
        "at": T0,
        "flow": "COLLECT",
        "currency": "USD",
        "amount": 15,
        "client_id": "cl_a",
        "rail": "card",
        "reason": "ok",
    }
    fields.update(overrides)
    return HistoryFacts(**fields)  # type: ignore[arg-type]


def _entry(payment_id: uuid.UUID | None = None, ref: uuid.UUID | None = None) -> EntryFacts:
    return EntryFacts(E1, "correction", payment_id, ref, T0, (("a:b", "USD", 7), ("a:c", "USD", -7)), "fee")


def test_a_history_record_has_its_fourteen_fields_in_order() -> None:
    assert _history().kind == "history"
    assert _history().record(12) == (
        b'[12,"history","00000000-0000-4000-8000-000000000001",3,"PROCESSING","COMPLETED",2,'
        b'"2026-01-01T12:00:00.123456Z","COLLECT","USD",15,"cl_a","card","ok"]'
    )


def test_an_entry_record_writes_absent_ids_as_null_and_present_ones_as_uuids() -> None:
    assert _entry().kind == "entry"
    assert _entry().record(7) == (
        b'[7,"entry","00000000-0000-4000-8000-000000000002","correction",null,null,'
        b'"2026-01-01T12:00:00.123456Z",[["a:b","USD",7],["a:c","USD",-7]],"fee"]'
    )
    assert _entry(P1, E1).record(7) == (
        b'[7,"entry","00000000-0000-4000-8000-000000000002","correction",'
        b'"00000000-0000-4000-8000-000000000001","00000000-0000-4000-8000-000000000002",'
        b'"2026-01-01T12:00:00.123456Z",[["a:b","USD",7],["a:c","USD",-7]],"fee"]'
    )


def test_a_link_binds_seq_kind_source_and_both_hashes() -> None:
    history = _history()
    made = ChainLink.make(5, H_AB, Pending(history, 41))
    assert made == ChainLink(5, "history", P1, 3, None, 41, H_AB, sha(H_AB + history.record(5)))
    posted = _entry(P1, E1)
    made_entry = ChainLink.make(6, made.hash, Pending(posted, 42))
    assert made_entry == ChainLink(6, "entry", P1, None, E1, 42, made.hash, sha(made.hash + posted.record(6)))
    assert ChainLink.make(1, GENESIS, Pending(_entry(), 0)).payment_id is None


def test_link_all_numbers_after_the_head_and_chains_each_hash_into_the_next() -> None:
    first, second, third = _history(index=0, from_status=None, to_status="REQUESTED"), _history(), _entry()
    links = link_all(10, H_AB, [Pending(first, 1), Pending(second, 2), Pending(third, 3)])
    h11 = sha(H_AB + first.record(11))
    h12 = sha(h11 + second.record(12))
    h13 = sha(h12 + third.record(13))
    assert [(x.seq, x.prev_hash, x.hash, x.source_pos) for x in links] == [
        (11, H_AB, h11, 1),
        (12, h11, h12, 2),
        (13, h12, h13, 3),
    ]
    assert link_all(10, H_AB, []) == []


def test_an_empty_head_defaults_to_no_chaining_time() -> None:
    assert ChainHead(0, GENESIS) == ChainHead(0, GENESIS, None)


# --- checkpoints and export lines ------------------------------------------------------------------


def test_the_checkpoint_message_is_the_canonical_array_of_the_spec() -> None:
    expected = b'["flosspay-checkpoint",9,"' + H_AB_HEX.encode() + b'","2026-01-01T12:00:00.123456Z"]'
    assert checkpoint_message(9, H_AB, T0) == expected
    assert Checkpoint(9, H_AB, T0, b"k", b"s").message() == expected
    assert (Checkpoint(9, H_AB, T0).key, Checkpoint(9, H_AB, T0).signature) == (None, None)
    # From format version 2 a checkpoint names the digest of the one before it, last.
    chained = Checkpoint(9, H_AB, T0, prev=bytes(range(32)))
    assert chained.message() == expected[:-1] + b',"' + bytes(range(32)).hex().encode() + b'"]'
    assert chained.digest() == hashlib.sha256(chained.message()).digest()


def test_the_header_line_is_exact() -> None:
    assert header_line(T0) == (
        b'{"format":"flosspay-ledger-export","version":2,"genesis":"' + b"0" * 64 + b'",'
        b'"exportedAt":"2026-01-01T12:00:00.123456Z"}\n'
    )
    assert header_line(T0, 1) == header_line(T0).replace(b'"version":2', b'"version":1')


def test_a_plain_record_line_carries_the_record_verbatim() -> None:
    record = b'[3,"x"]'
    assert record_line(3, H_AB, record) == b'{"hash":"' + H_AB_HEX.encode() + b'","record":[3,"x"]}\n'
    # The plain form is the one the verifier's fast path slices: hash at 9..73, record from 84.
    line = record_line(3, H_AB, record)
    assert line[9:73] == H_AB_HEX.encode() and line[84:-2] == record


def test_a_record_line_with_a_problem_starts_with_it_and_names_its_seq() -> None:
    assert record_line(4, H_AB, b"[4]", 'row "x" gone') == (
        b'{"problem":"row \\"x\\" gone","seq":4,"hash":"' + H_AB_HEX.encode() + b'","record":[4]}\n'
    )
    assert record_line(12, H_AB, None, "source row missing") == (
        b'{"problem":"source row missing","seq":12,"hash":"' + H_AB_HEX.encode() + b'","record":null}\n'
    )
    assert record_line(5, H_AB, None) == (
        b'{"problem":"record missing","seq":5,"hash":"' + H_AB_HEX.encode() + b'","record":null}\n'
    )
    assert record_line(5, H_AB, None, "") == record_line(5, H_AB, None)


def test_checkpoint_lines_are_exact_signed_or_not() -> None:
    signed = Checkpoint(9, H_AB, T0, b"\x01\xab", b"\xff\x00", prev=H_AB)
    assert checkpoint_line(signed) == (
        b'{"checkpoint":{"seq":9,"hash":"' + H_AB_HEX.encode() + b'","at":"2026-01-01T12:00:00.123456Z",'
        b'"prev":"' + H_AB_HEX.encode() + b'","key":"01ab","signature":"ff00"}}\n'
    )
    assert checkpoint_line(Checkpoint(9, H_AB, T0)) == (
        b'{"checkpoint":{"seq":9,"hash":"' + H_AB_HEX.encode() + b'","at":"2026-01-01T12:00:00.123456Z",'
        b'"prev":null,"key":null,"signature":null}}\n'
    )
    assert checkpoint_line(Checkpoint(9, H_AB, T0), 1) == (
        b'{"checkpoint":{"seq":9,"hash":"' + H_AB_HEX.encode() + b'","at":"2026-01-01T12:00:00.123456Z",'
        b'"key":null,"signature":null}}\n'
    )
    with pytest.raises(ValueError, match="no version-1 form"):
        checkpoint_line(signed, 1)
    key_only = Checkpoint(9, H_AB, T0, key=b"\x02")
    assert json.loads(checkpoint_line(key_only))["checkpoint"] | {} == {
        "seq": 9,
        "hash": H_AB_HEX,
        "at": "2026-01-01T12:00:00.123456Z",
        "prev": None,
        "key": "02",
        "signature": None,
    }
    signature_only = Checkpoint(9, H_AB, T0, signature=b"\x03")
    assert json.loads(checkpoint_line(signature_only))["checkpoint"]["key"] is None
    assert json.loads(checkpoint_line(signature_only))["checkpoint"]["signature"] == "03"


def test_the_end_line_is_exact() -> None:
    assert end_line(0, GENESIS) == b'{"end":{"seq":0,"hash":"' + b"0" * 64 + b'"}}\n'
    assert end_line(77, H_AB) == b'{"end":{"seq":77,"hash":"' + H_AB_HEX.encode() + b'"}}\n'


def test_format_time_does_not_depend_on_the_machines_time_zone(monkeypatch: pytest.MonkeyPatch) -> None:
    import time

    monkeypatch.setenv("TZ", "Asia/Kolkata")
    time.tzset()
    try:
        minus = timezone(-timedelta(hours=3))
        assert format_time(datetime(2026, 1, 1, 9, tzinfo=minus)) == "2026-01-01T12:00:00.000000Z"
    finally:
        monkeypatch.undo()
        time.tzset()
