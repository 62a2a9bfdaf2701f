"""The chain format (canonical bytes, hashing, the export) and the verifier's rules, on crafted exports."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import uuid
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import given
from hypothesis import strategies as st

from flosspay import ledger_verify
from flosspay.adapters.ledger_signing import Ed25519Signer, verify_signature
from flosspay.domain.chain import (
    GENESIS,
    Checkpoint,
    EntryFacts,
    Facts,
    HistoryFacts,
    Pending,
    RefundHistoryFacts,
    canonical,
    canonical_object,
    canonical_value,
    checkpoint_line,
    end_line,
    format_time,
    header_line,
    link_all,
    link_hash,
    parse_time,
    record_line,
)
from flosspay.domain.ledger import payment_entry_id, refund_entry_id
from flosspay.domain.payment import TRANSITIONS
from flosspay.ledger_verify import Report, verify_lines
from flosspay.ledger_verify import values as chain_verify

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[2]
T0 = datetime(2026, 1, 1, 12, 0, 0, 123456, tzinfo=UTC)
P1 = uuid.UUID("00000000-0000-4000-8000-000000000001")
E1 = payment_entry_id(P1)
"""The id of ``P1``'s payment entry (uuid5, docs/ledger.md §1)."""
POSTINGS = (
    ("upi:vpa:alice@upi", "INR", -2800),
    ("upi:clearing", "INR", 2800),
    ("upi:clearing", "INR", -2800),
    ("upi:vpa:bob@upi", "INR", 2800),
)


def hist(pid: uuid.UUID, index: int, frm: str | None, to: str, flow: str = "PAY", amount: int = 2800) -> HistoryFacts:
    return HistoryFacts(
        pid, index, frm, to, None, T0 + timedelta(seconds=index), flow, "INR", amount, "cl_x", "upi", "r"
    )


def paid(pid: uuid.UUID, amount: int = 2800) -> list[Facts]:
    return [
        hist(pid, 0, None, "QUEUED", amount=amount),
        hist(pid, 1, "QUEUED", "PROCESSING", amount=amount),
        hist(pid, 2, "PROCESSING", "COMPLETED", amount=amount),
    ]


R1 = uuid.UUID("00000000-0000-4000-8000-0000000000a1")
REFUND_POSTINGS = (
    ("upi:vpa:bob@upi", "INR", -800),
    ("upi:clearing", "INR", 800),
    ("upi:clearing", "INR", -800),
    ("upi:vpa:alice@upi", "INR", 800),
)
BACK = tuple((a, c, -m) for a, c, m in POSTINGS)
"""What the reversal of a payment entry with ``POSTINGS`` posts."""


def entry(
    eid: uuid.UUID,
    pid: uuid.UUID | None,
    kind: str = "payment",
    ref: uuid.UUID | None = None,
    postings: tuple[tuple[str, str, int], ...] = POSTINGS,
) -> EntryFacts:
    return EntryFacts(eid, kind, pid, ref, T0 + timedelta(seconds=5), postings, "completed")


def export(facts: list[Facts], checkpoints: dict[int, Checkpoint] | None = None) -> list[bytes]:
    links = link_all(0, GENESIS, [Pending(f, 0) for f in facts])
    lines = [header_line(T0)]
    for link, item in zip(links, facts, strict=True):
        lines.append(record_line(link.seq, link.hash, item.record(link.seq)))
        if checkpoints and link.seq in checkpoints:
            lines.append(checkpoint_line(checkpoints[link.seq]))
    last = links[-1] if links else None
    lines.append(end_line(last.seq if last else 0, last.hash if last else GENESIS))
    return lines


def first(report: Report) -> tuple[int, str]:
    assert report.problems, "expected a problem"
    return report.problems[0].seq, report.problems[0].what


def good_ledger() -> list[Facts]:
    p2, p3 = uuid.UUID(int=3), uuid.UUID(int=4)
    return [
        *paid(P1),
        entry(E1, P1),
        hist(p2, 0, None, "REQUESTED", flow="COLLECT"),
        hist(p2, 1, "REQUESTED", "PROCESSING", flow="COLLECT"),
        hist(p3, 0, None, "QUEUED"),
        hist(p2, 2, "PROCESSING", "DECLINED", flow="COLLECT"),
        entry(uuid.UUID(int=9), P1, "reversal", E1, BACK),
    ]


# --- the format ------------------------------------------------------------------------------------


def _spec_vectors() -> list[tuple[bytes, str]]:
    """The ``C(n) = …`` / ``H(n) = …`` lines of docs/ledger.md, as (record bytes, hash hex)."""
    text = (ROOT / "docs" / "ledger.md").read_text(encoding="utf-8")
    records = re.findall(r"^    C\((\d+)\) = (.*)$", text, re.MULTILINE)
    hashes = dict(re.findall(r"^    H\((\d+)\) = ([0-9a-f]{64})$", text, re.MULTILINE))
    return [(record.encode(), hashes[n]) for n, record in records]


def test_golden_vectors_that_an_independent_implementation_must_reproduce() -> None:
    at = datetime(2026, 1, 1, 12, 0, 5, tzinfo=UTC)
    facts: list[Facts] = [
        HistoryFacts(P1, 0, None, "QUEUED", None, T0, "PAY", "INR", 2800, "cl_demo", "upi", "accepted"),
        HistoryFacts(
            P1,
            1,
            "QUEUED",
            "PROCESSING",
            1,
            T0.replace(second=1, microsecond=0),
            "PAY",
            "INR",
            2800,
            "cl_demo",
            "upi",
            "sent to the rail",
        ),
        HistoryFacts(P1, 2, "PROCESSING", "COMPLETED", 1, at, "PAY", "INR", 2800, "cl_demo", "upi", "rail: SUCCESS"),
        EntryFacts(E1, "payment", P1, None, at, POSTINGS, 'say "héllo"\n\t\x01/€'),
        # A refund of 8.00 of it (docs/ledger.md §2, records 5 to 8).
        RefundHistoryFacts(R1, 0, None, "PENDING", None, T0.replace(second=9), P1, "INR", 800, "cl_demo", "asked"),
        RefundHistoryFacts(R1, 1, "PENDING", "PROCESSING", 1, at.replace(second=10), P1, "INR", 800, "cl_demo", "sent"),
        RefundHistoryFacts(R1, 2, "PROCESSING", "SUCCEEDED", 1, at.replace(second=11), P1, "INR", 800, "cl_demo", "ok"),
        EntryFacts(refund_entry_id(R1), "refund", P1, E1, at.replace(second=11), REFUND_POSTINGS, f"refund {R1}"),
    ]
    vectors = _spec_vectors()
    assert len(vectors) == 8
    prev = GENESIS
    for seq, (item, (record, digest)) in enumerate(zip(facts, vectors, strict=True), start=1):
        assert item.record(seq) == record
        prev = link_hash(prev, record)
        assert prev.hex() == digest
    assert vectors[3][0].endswith('"say \\"héllo\\"\\n\\t\\u0001/€"]'.encode())
    assert verify_lines(export(facts)).ok  # the spec's vectors form a valid chain
    prev = link_hash(GENESIS, vectors[0][0])
    for record, _ in vectors[1:4]:
        prev = link_hash(prev, record)
    checkpoint = Checkpoint(4, prev, datetime(2026, 1, 1, 13, tzinfo=UTC))
    assert checkpoint.message() == (
        b'["flosspay-checkpoint",4,"be7e436dfd0ad3440cfb1e4567bfe5f1de9994fc4ae7f768dbe7eeb32ace30bc",'
        b'"2026-01-01T13:00:00.000000Z"]'
    )


def _rfc8785_string(text: str) -> str:
    """RFC 8785 section 3.2.2.2, written from the spec."""
    short = {'"': '\\"', "\\": "\\\\", "\b": "\\b", "\f": "\\f", "\n": "\\n", "\r": "\\r", "\t": "\\t"}
    out = []
    for char in text:
        if char in short:
            out.append(short[char])
        elif ord(char) < 0x20:
            out.append(f"\\u{ord(char):04x}")
        else:
            out.append(char)
    return '"' + "".join(out) + '"'


@given(st.text(alphabet=st.characters(exclude_categories=("Cs",))), st.integers(-(10**15), 10**15))
def test_strings_and_integers_are_encoded_exactly_as_rfc_8785_says(text: str, number: int) -> None:
    assert canonical([text, number, None]) == f"[{_rfc8785_string(text)},{number},null]".encode()


def test_times_are_utc_with_six_fractional_digits_and_naive_ones_are_refused() -> None:
    ist = timezone(timedelta(hours=5, minutes=30))
    assert format_time(datetime(2026, 1, 1, 17, 30, tzinfo=ist)) == "2026-01-01T12:00:00.000000Z"
    assert format_time(datetime(987, 6, 5, 4, 3, 2, 1, tzinfo=UTC)) == "0987-06-05T04:03:02.000001Z"
    assert parse_time(format_time(T0)) == T0
    with pytest.raises(ValueError, match="naive"):
        format_time(datetime(2026, 1, 1))
    with pytest.raises(ValueError):
        parse_time("2026-01-01T12:00:00Z")


def _reference_time(moment: datetime) -> str:
    """format_time as first written (astimezone and every field formatted): the faster one must agree."""
    u = moment.astimezone(UTC)
    return f"{u.year:04d}-{u.month:02d}-{u.day:02d}T{u.hour:02d}:{u.minute:02d}:{u.second:02d}.{u.microsecond:06d}Z"


@given(st.datetimes(min_value=datetime(2, 1, 1), max_value=datetime(9998, 12, 31), timezones=st.timezones()))
def test_format_time_is_the_utc_wall_time_in_any_zone(moment: datetime) -> None:
    assert format_time(moment) == _reference_time(moment)
    assert format_time(moment.astimezone(timezone(timedelta(hours=-9, minutes=-30)))) == _reference_time(moment)


_TEXT = st.text(alphabet=st.characters(exclude_categories=("Cs",)), max_size=12)
_INT = st.one_of(st.integers(-(10**18), 10**18), st.booleans())  # a bool must still be encoded as the encoder does
_MAYBE_TEXT = st.one_of(st.none(), _TEXT)
_MAYBE_INT = st.one_of(st.none(), _INT)
_AT = st.datetimes(min_value=datetime(2, 1, 1), max_value=datetime(9998, 12, 31), timezones=st.timezones())
_POSTING = st.tuples(_TEXT, _TEXT, _INT)


@given(
    seq=_INT,
    history=st.builds(HistoryFacts, st.uuids(), _INT, _MAYBE_TEXT, _TEXT, _MAYBE_INT, _AT, *[_TEXT] * 4, _TEXT, _TEXT),
    refund=st.builds(
        RefundHistoryFacts, st.uuids(), _INT, _MAYBE_TEXT, _TEXT, _MAYBE_INT, _AT, st.uuids(), _TEXT, _INT, _TEXT, _TEXT
    ),
    entry=st.builds(
        EntryFacts,
        st.uuids(),
        _TEXT,
        st.one_of(st.none(), st.uuids()),
        st.one_of(st.none(), st.uuids()),
        _AT,
        st.lists(_POSTING, max_size=5).map(tuple),
        _TEXT,
    ),
)
def test_each_record_is_exactly_the_canonical_encoding_of_its_values(
    seq: int, history: HistoryFacts, refund: RefundHistoryFacts, entry: EntryFacts
) -> None:
    for facts in (history, refund, entry):
        assert facts.record(seq) == canonical(facts.values(seq))


def test_a_record_with_a_value_of_another_type_is_still_the_encoder_s() -> None:
    odd = HistoryFacts(P1, 0, None, "QUEUED", None, T0, "PAY", "INR", 2800, 42, "upi", "r")  # type: ignore[arg-type]
    assert odd.record(1) == canonical(odd.values(1))
    assert b',42,"upi"' in odd.record(1)
    short = EntryFacts(E1, "payment", P1, None, T0, (("a:b", "INR"),), "d")  # type: ignore[arg-type]
    assert short.record(2) == canonical(short.values(2))


# --- the verifier ----------------------------------------------------------------------------------


def test_a_well_formed_export_verifies() -> None:
    facts = good_ledger()
    report = verify_lines(export(facts))
    assert report.ok, report.problems
    assert report.head_seq == report.records == len(facts)
    assert report.head_hash == link_all(0, GENESIS, [Pending(f, 0) for f in facts])[-1].hash
    assert "ledger OK" in ledger_verify.describe(report)


def _replace_record(lines: list[bytes], seq: int, old: bytes, new: bytes) -> list[bytes]:
    changed = list(lines)
    assert old in changed[seq]
    changed[seq] = changed[seq].replace(old, new, 1)
    return changed


def test_a_changed_record_is_a_hash_mismatch_at_its_seq_and_only_there() -> None:
    lines = export(good_ledger())
    changed = _replace_record(lines, 3, b'"PROCESSING","COMPLETED"', b'"PROCESSING","FAILED"')
    report = verify_lines(changed)
    assert first(report) == (3, "hash mismatch: this record or its link was changed after it was chained")
    assert [p.seq for p in report.problems if "hash" in p.what] == [3]


def test_a_missing_line_is_a_gap_and_swapped_lines_are_out_of_order() -> None:
    lines = export(good_ledger())
    gap = verify_lines(lines[:4] + lines[5:])
    assert first(gap) == (4, "sequence gap: seq 4 missing (next record is seq 5)")
    swapped = verify_lines([*lines[:2], lines[3], lines[2], *lines[4:]])
    assert first(swapped)[0] == 2 and "sequence gap" in first(swapped)[1]


@pytest.mark.parametrize(
    ("facts", "seq", "complaint"),
    [
        (
            [hist(P1, 0, None, "QUEUED"), hist(P1, 1, "QUEUED", "COMPLETED")],
            2,
            "illegal transition QUEUED -> COMPLETED",
        ),
        ([hist(P1, 0, None, "PROCESSING")], 1, "cannot start in PROCESSING"),
        ([hist(P1, 0, None, "REQUESTED")], 1, "a PAY payment cannot start in REQUESTED"),
        ([hist(P1, 1, "QUEUED", "PROCESSING")], 1, "history row 1 with no earlier rows"),
        ([hist(P1, 0, None, "QUEUED"), hist(P1, 2, "QUEUED", "PROCESSING")], 2, "row 2 where row 1 belongs"),
        ([hist(P1, 0, None, "QUEUED"), hist(P1, 1, "PROCESSING", "COMPLETED")], 2, "from PROCESSING but the payment"),
        ([hist(P1, 0, None, "QUEUED"), hist(P1, 1, "QUEUED", "PROCESSING", amount=1)], 2, "differ from the payment"),
        ([*paid(P1), hist(P1, 3, "COMPLETED", "FAILED")], 4, "illegal transition COMPLETED -> FAILED"),
        ([*paid(P1)[:2], hist(P1, 2, "PROCESSING", "FAILED"), hist(P1, 3, "FAILED", "PROCESSING")], 4, "after the"),
        ([*paid(P1)[:2], entry(E1, P1)], 3, "has not COMPLETED earlier in the chain"),
        ([*paid(P1), entry(E1, P1), entry(uuid.UUID(int=5), P1)], 5, "has not COMPLETED earlier"),
        ([*paid(P1, 100), entry(E1, P1)], 4, "does not move the payment's 100 INR"),
        ([*paid(P1), entry(E1, P1, postings=POSTINGS[:3])], 4, "sum to -2800, not 0 (unbalanced)"),
        ([*paid(P1), entry(E1, P1, postings=POSTINGS[:1])], 4, "fewer than two postings"),
        ([*paid(P1), entry(E1, P1), entry(E1, None, "correction", E1)], 5, "chained twice"),
        ([*paid(P1), entry(E1, P1), entry(uuid.UUID(int=7), None, "reversal", uuid.UUID(int=8))], 5, "not earlier"),
        ([*paid(P1), entry(E1, P1), entry(uuid.UUID(int=7), None, "correction")], 5, "must reference"),
        (
            [
                *paid(P1),
                entry(E1, P1),
                entry(uuid.UUID(int=7), P1, "reversal", E1, BACK),
                entry(uuid.UUID(int=8), P1, "reversal", E1, BACK),
            ],
            6,
            "reversed twice",
        ),
        ([*paid(P1), entry(E1, P1), entry(uuid.UUID(int=7), P1, "reversal", E1)], 5, "negates each posting"),
        ([*paid(P1), entry(E1, P1), entry(uuid.UUID(int=7), None, "reversal", E1, BACK)], 5, "names the payment"),
        (
            [*paid(P1), entry(E1, P1), entry(uuid.UUID(int=7), P1, "reversal", E1, (*BACK[2:], *BACK[:2]))],
            5,
            "in order; this one does not",
        ),
        (
            [
                *paid(P1),
                entry(E1, P1),
                entry(uuid.UUID(int=7), P1, "reversal", E1, BACK),
                entry(uuid.UUID(int=8), P1, "reversal", uuid.UUID(int=7), POSTINGS),
            ],
            6,
            "is itself a reversal",
        ),
        ([*paid(P1), entry(E1, P1, ref=E1)], 4, "references no entry"),
        ([*paid(P1), entry(E1, P1, postings=(("a:b", "INR", 5), ("a:c", "USD", -5)))], 4, "unbalanced"),
    ],
)
def test_each_ledger_rule_is_checked_at_the_record_that_breaks_it(facts: list[Facts], seq: int, complaint: str) -> None:
    report = verify_lines(export(facts))
    assert first(report)[0] == seq and complaint in first(report)[1], report.problems


def test_the_export_framing_is_checked() -> None:
    lines = export(good_ledger())
    assert first(verify_lines(lines[1:])) == (0, "the export does not start with its header line")
    assert first(verify_lines(lines[:-1])) == (0, "the export has no end line: it is truncated")
    assert first(verify_lines([*lines, lines[1]]))[1] == "lines after the end line"
    assert "is not a JSON object" in first(verify_lines([*lines[:3], b"{not json\n", *lines[3:]]))[1]
    wrong_end = [*lines[:-1], end_line(99, GENESIS)]
    assert "ends at seq 99" in first(verify_lines(wrong_end))[1]
    other = json.loads(lines[0])
    other["version"] = 3
    assert "version 1" in first(verify_lines([canonical_object(other) + b"\n", *lines[1:]]))[1]


def test_a_problem_line_from_the_exporter_is_reported_and_the_chain_goes_on() -> None:
    facts = good_ledger()
    lines = export(facts)
    link = json.loads(lines[2])
    missing = record_line(2, bytes.fromhex(link["hash"]), None, "source record missing: history row 1 of payment x")
    report = verify_lines([*lines[:2], missing, *lines[3:]])
    assert [(p.seq, p.what) for p in report.problems[:1]] == [(2, "source record missing: history row 1 of payment x")]
    assert not any("hash" in p.what for p in report.problems)  # the next link checks against the stored hash


def test_a_loosened_line_is_refused_but_judged_by_the_same_rules() -> None:
    def loosen(line: bytes) -> bytes:
        return json.dumps(json.loads(line), indent=None, separators=(", ", ": "), ensure_ascii=True).encode() + b"\n"

    good = export(good_ledger())
    bad = _replace_record(good, 6, b'"REQUESTED","PROCESSING"', b'"REQUESTED","EXPIRED"')
    inexact = "a line is not in its one exact encoding (compact JSON, canonical values, one \\n at the end)"
    for lines in (good, bad, export([*paid(P1), entry(E1, P1, postings=POSTINGS[:3])])):
        fast, slow = verify_lines(lines), verify_lines([loosen(line) for line in lines])
        assert (fast.head_hash, fast.head_seq) == (slow.head_hash, slow.head_seq)
        # A line is refused for its encoding at its seq unless something else is wrong with it; the rules
        # judge what it says alike.
        assert [p for p in slow.problems if p.what != inexact] == fast.problems
        if lines is good:
            assert [p.seq for p in slow.problems] == [0, *range(1, len(lines) - 1), len(lines) - 2]


def _signed(seq: int, digest: bytes, signer: Ed25519Signer) -> Checkpoint:
    unsigned = Checkpoint(seq, digest, T0)
    return Checkpoint(seq, digest, T0, signer.public_key, signer.sign(unsigned.message()))


def test_a_head_statement_names_its_key_publickey_and_the_first_spelling_key_still_reads(tmp_path: Path) -> None:
    from flosspay.domain.chain import signed_head_line

    signer = Ed25519Signer(Ed25519PrivateKey.generate())
    line = signed_head_line(_signed(3, bytes(range(32)), signer))
    statement = json.loads(line)
    assert list(statement) == ["format", "seq", "hash", "at", "publicKey", "signature"]
    assert statement["publicKey"] == signer.public_key.hex()
    new, old, both = tmp_path / "new.json", tmp_path / "old.json", tmp_path / "both.json"
    new.write_bytes(line)
    old.write_bytes(line.replace(b'"publicKey":', b'"key":'))
    both.write_text(json.dumps({**statement, "key": statement["publicKey"]}))
    for path in (new, old):
        assert ledger_verify.parse_signed_head(str(path), [signer.public_key]) == (3, bytes(range(32)))
    with pytest.raises(ledger_verify.UsageError, match="is not a head statement"):
        ledger_verify.parse_signed_head(str(both), [])
    other = Ed25519Signer(Ed25519PrivateKey.generate())
    with pytest.raises(ledger_verify.UsageError, match="not one given with --public-key"):
        ledger_verify.parse_signed_head(str(old), [other.public_key])


def test_checkpoints_and_published_heads_hold_the_chain_to_what_was_published() -> None:
    facts = good_ledger()
    links = link_all(0, GENESIS, [Pending(f, 0) for f in facts])
    signer = Ed25519Signer(Ed25519PrivateKey.generate())
    lines = export(facts, {3: _signed(3, links[2].hash, signer), 6: _signed(6, links[5].hash, signer)})
    trusted = {"check_signature": verify_signature, "trusted_keys": [signer.public_key]}
    report = verify_lines(lines, **trusted)
    assert report.ok and (report.checkpoints, report.signed_checkpoints) == (2, 2), report.problems
    # Without a key to check against, signatures count as unchecked rather than trusted.
    assert verify_lines(lines).unchecked_signatures == 2

    wrong_hash = export(facts, {3: _signed(3, links[3].hash, signer)})
    assert "records hash" in first(verify_lines(wrong_hash, **trusted))[1]
    forged = Checkpoint(3, links[2].hash, T0, signer.public_key, bytes(64))
    assert "signature does not verify" in first(verify_lines(export(facts, {3: forged}), **trusted))[1]
    unsigned = export(facts, {3: Checkpoint(3, links[2].hash, T0)})
    assert first(verify_lines(unsigned, **trusted)) == (3, "checkpoint at seq 3 is not signed")

    assert verify_lines(lines, expected_heads={4: links[3].hash}).ok
    assert first(verify_lines(lines, expected_heads={4: links[4].hash}))[0] == 4
    assert "before the expected head" in first(verify_lines(lines, expected_heads={99: links[0].hash}))[1]


# --- Ed25519 without cryptography, and the stdlib-only promise --------------------------------------


def test_the_pure_python_ed25519_agrees_with_cryptography() -> None:
    signer = Ed25519Signer(Ed25519PrivateKey.generate())
    other = Ed25519Signer(Ed25519PrivateKey.generate())
    message = b'["flosspay-checkpoint",1,"00","2026-01-01T00:00:00.000000Z"]'
    signature = signer.sign(message)
    cases = [
        (signer.public_key, message, signature, True),
        (signer.public_key, message + b" ", signature, False),
        (other.public_key, message, signature, False),
        (signer.public_key, message, signature[:63] + bytes([signature[63] ^ 1]), False),
        (signer.public_key, message, signature[:10], False),
        (b"\xff" * 32, message, signature, False),
    ]
    for key, msg, sig, valid in cases:
        assert ledger_verify.ed25519_verify(key, msg, sig) is valid
        assert verify_signature(key, msg, sig) is valid


def test_the_offline_verifier_runs_on_the_standard_library_alone(tmp_path: Path) -> None:
    facts = good_ledger()
    links = link_all(0, GENESIS, [Pending(f, 0) for f in facts])
    signer = Ed25519Signer(Ed25519PrivateKey.generate())
    path = tmp_path / "export.jsonl"
    path.write_bytes(b"".join(export(facts, {6: _signed(6, links[5].hash, signer)})))
    probe = (
        "import sys, runpy; sys.argv = ['ledger_verify', sys.argv[1], '--public-key', sys.argv[2], '--quiet'];"
        "code = 0\ntry: runpy.run_module('flosspay.ledger_verify', run_name='__main__')\n"
        "except SystemExit as exit: code = exit.code\n"
        "third = sorted({m.split('.')[0] for m in sys.modules} & {'msgspec', 'cryptography', 'sqlalchemy', 'litestar'})\n"
        "print('third-party:', third); sys.exit(code)"
    )
    # -S: no site-packages at all, so nothing but the standard library can be imported.
    done = subprocess.run(
        [sys.executable, "-S", "-c", probe, str(path), signer.public_key.hex()],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert "ledger OK: 9 records" in done.stdout and "1 with a verified signature" in done.stdout
    assert "third-party: []" in done.stdout


def test_splitting_the_work_over_two_processes_gives_the_same_report(tmp_path: Path) -> None:
    facts = good_ledger()
    links = link_all(0, GENESIS, [Pending(f, 0) for f in facts])
    signer = Ed25519Signer(Ed25519PrivateKey.generate())
    good = export(facts, {4: _signed(4, links[3].hash, signer)})
    target = next(i for i, line in enumerate(good) if b'"REQUESTED","PROCESSING"' in line)
    bad = _replace_record(good, target, b'"REQUESTED","PROCESSING"', b'"REQUESTED","EXPIRED"')
    unbalanced = export([*paid(P1), entry(E1, P1, postings=POSTINGS[:3]), hist(P1, 3, "COMPLETED", "FAILED")])
    for number, lines in enumerate((good, bad, bad[:-1], unbalanced, good[:4] + good[5:])):
        path = tmp_path / f"export-{number}.jsonl"
        path.write_bytes(b"".join(lines))
        kwargs = {"trusted_keys": [signer.public_key], "expected_heads": {2: links[1].hash}}
        one = ledger_verify.verify_file(path, jobs=1, **kwargs)  # type: ignore[arg-type]
        two = ledger_verify.verify_file(path, jobs=2, **kwargs)  # type: ignore[arg-type]
        assert one == two, number
        assert one.ok is (number == 0)


# --- a finished payment stays finished (nothing after a final status) -------------------------------


def _reasoned(facts: list[Facts], reason: str) -> list[Facts]:
    """The same chain with every history reason replaced (one with an escape takes the general path)."""
    return [
        HistoryFacts(
            f.payment_id,
            f.index,
            f.from_status,
            f.to_status,
            f.attempt,
            f.at,
            f.flow,
            f.currency,
            f.amount,
            f.client_id,
            f.rail,
            reason,
        )
        if isinstance(f, HistoryFacts)
        else f
        for f in facts
    ]


@pytest.mark.parametrize("reason", ["plain", "with\nan escape"])
def test_a_finished_payment_never_starts_again(reason: str) -> None:
    failed = [*paid(P1)[:2], hist(P1, 2, "PROCESSING", "FAILED")]
    restarted = _reasoned([*failed, *paid(P1), entry(E1, P1)], reason)
    report = verify_lines(export(restarted))
    assert first(report) == (4, f"payment {P1}: a history row after the payment's final status")

    completed_twice = _reasoned([*paid(P1), entry(E1, P1), *paid(P1), entry(E1, P1)], reason)
    report = verify_lines(export(completed_twice))
    assert first(report) == (5, f"payment {P1}: a history row after the payment's final status")
    assert [p.seq for p in report.problems] == [5, 6, 7, 8]  # nothing of the second life is accepted

    declined = [
        hist(P1, 0, None, "REQUESTED", flow="COLLECT"),
        hist(P1, 1, "REQUESTED", "PROCESSING", flow="COLLECT"),
        hist(P1, 2, "PROCESSING", "DECLINED", flow="COLLECT"),
    ]
    report = verify_lines(export(_reasoned([*declined, declined[0]], reason)))
    assert first(report) == (4, f"payment {P1}: a history row after the payment's final status")


def test_a_completed_payment_without_its_entry_is_reported_at_the_end() -> None:
    report = verify_lines(export([*paid(P1), hist(uuid.UUID(int=5), 0, None, "QUEUED")]))
    assert [(p.seq, p.what) for p in report.problems] == [
        (0, f"payment {P1} COMPLETED at seq 3, but its payment entry is not in the chain")
    ]


def test_a_payment_entry_has_its_uuid5_id_and_four_lines() -> None:
    wrong_id = verify_lines(export([*paid(P1), entry(uuid.UUID(int=7), P1)]))
    assert first(wrong_id) == (4, f"entry {uuid.UUID(int=7)}: the payment entry of payment {P1} has id {E1}")
    two_lines = (("upi:vpa:alice@upi", "INR", -2800), ("upi:vpa:bob@upi", "INR", 2800))
    short = verify_lines(export([*paid(P1), entry(E1, P1, postings=two_lines)]))
    assert first(short)[0] == 4 and "posts four lines" in first(short)[1]
    elsewhere = tuple((a.replace("upi:clearing", "card:clearing"), c, m) for a, c, m in POSTINGS)
    assert "posts four lines" in first(verify_lines(export([*paid(P1), entry(E1, P1, postings=elsewhere)])))[1]


def test_account_names_have_one_spelling_and_ledger_correct_normalises_to_it() -> None:
    from flosspay.adapters.cli.ledger import LedgerCliError, _postings
    from flosspay.domain.chain import canonical_account, is_canonical_account
    from flosspay.domain.ledger import account, is_account_name

    assert canonical_account("merchant:caf%c3%a9") == "merchant:caf%C3%A9" == account("merchant", "café")
    assert canonical_account("a:%41%2b") == "a:A%2B"
    for bad in ("a", "a:", ":b", "a:b c", "a:%zz", "a:%c3", "a:é", 'a:"x"', "a:" + "b" * 254):
        assert canonical_account(bad) is None, bad
        assert not is_account_name(bad)
    assert is_canonical_account("upi:vpa:alice@upi") and not is_account_name("a:%2f")
    given = [["merchant:caf%c3%a9", "1.50", "INR"], ["a:%41", "-1.50", "INR"]]
    assert [p.account for p in _postings(given)] == ["merchant:caf%C3%A9", "a:A"]
    with pytest.raises(LedgerCliError, match="--posting a:b c: not an account name"):
        _postings([["a:b c", "1", "INR"]])


def _relink(lines: list[bytes], seq: int, new_record: bytes) -> list[bytes]:
    """``lines`` with record ``seq`` replaced by ``new_record`` and every later hash recomputed."""
    out, prev = [lines[0]], GENESIS
    for line in lines[1:-1]:
        obj = json.loads(line)
        if "record" not in obj:
            out.append(line)
            continue
        record = line[line.index(b'"record":') + 9 : -2]
        if obj["record"][0] == seq:
            record = new_record
        prev = link_hash(prev, record)
        out.append(b'{"hash":"' + prev.hex().encode() + b'","record":' + record + b"}\n")
    return [*out, end_line(len(out) - 1, prev)]


@pytest.mark.parametrize(
    ("seq", "old", "new"),
    [
        (1, b'"r"]', b'"\\u0072"]'),  # an escape where the character itself belongs
        (1, b'"upi","r"]', b'"upi","\\/"]'),
        (1, b'"r"]', b'"\tr"]'),  # a raw TAB
        (1, b'"r"]', b'"\xc3("]'),  # invalid UTF-8
        (1, b'"r"]', b'"r" ]'),  # a space
        (1, b",0,null,", b",-0,null,"),
        (1, b',null,"2026', b',1.0,"2026'),  # a fraction
        (4, b'"completed"]', b'"\\u0063ompleted"]'),  # in an entry
        (4, b'-2800],["upi:clearing"', b'-2800 ],["upi:clearing"'),
    ],
)
def test_a_record_in_any_but_its_canonical_bytes_is_refused_even_when_relinked(
    seq: int, old: bytes, new: bytes
) -> None:
    lines = export(good_ledger())
    record = next(line for line in lines[1:] if line.startswith(b'{"hash"') and b'"record":[%d,' % seq in line)
    body = record[record.index(b'"record":') + 9 : -2]
    assert old in body
    report = verify_lines(_relink(lines, seq, body.replace(old, new, 1)))
    assert not report.ok and report.problems[0].seq == seq, report.problems


@pytest.mark.parametrize(
    "change",
    [
        lambda line: line[:-1] + b"\r\n",  # CRLF
        lambda line: b" " + line,
        lambda line: line[:-1] + b" \n",
        lambda line: b'{"record":' + line[line.index(b"[") : -2] + b',"hash":' + line[8:74] + b"}\n",  # reordered
        lambda line: line[:-2] + b',"extra":1}\n',
    ],
)
def test_a_record_line_in_any_but_its_exact_framing_is_refused(change: Any) -> None:
    lines = export(good_ledger())
    report = verify_lines([*lines[:3], change(lines[3]), *lines[4:]])
    assert [p.seq for p in report.problems] == [3], report.problems


def test_the_last_line_needs_its_newline_and_the_header_its_exact_form() -> None:
    lines = export(good_ledger())
    assert [p.seq for p in verify_lines([*lines[:-1], lines[-1][:-1]]).problems] == [9]
    loose_header = lines[0].replace(b'","version"', b'", "version"')
    assert [(p.seq, p.what[:12]) for p in verify_lines([loose_header, *lines[1:]]).problems] == [(0, "a line is no")]


def _spec_state_tables() -> dict[str, set[tuple[str | None, str]]]:
    """The ``#### PAY`` / ``#### COLLECT`` tables of docs/ledger.md, as (from, to) pairs."""
    text = (ROOT / "docs" / "ledger.md").read_text(encoding="utf-8")
    tables: dict[str, set[tuple[str | None, str]]] = {}
    for flow, body in re.findall(r"^#### (\w+)\n\n((?:\|.*\n)+)", text, re.MULTILINE):
        rows = [[cell.strip() for cell in line.strip("|").split("|")] for line in body.splitlines()[2:]]
        tables[flow] = {(None if a == "—" else a, b) for a, b in rows}
    return tables


def test_the_specs_state_tables_are_the_one_state_machine_the_domain_and_the_verifier_use() -> None:
    from flosspay.domain import chain

    spec = _spec_state_tables()
    refund = spec.pop("REFUND")
    assert refund == set(chain.REFUND_TRANSITIONS)
    assert {(canonical_value(a), canonical_value(b)) for a, b in refund} == chain_verify._REFUND_LEGAL
    refund_ends = {b for _, b in refund} - {a for a, _ in refund}
    assert refund_ends == chain.REFUND_FINAL_STATUSES
    assert spec == {flow: set(pairs) for flow, pairs in chain.TRANSITIONS.items()}
    domain = {flow.value: {(a.value if a else None, b.value) for a, b in pairs} for flow, pairs in TRANSITIONS.items()}
    assert spec == domain
    assert {
        (canonical_value(flow), canonical_value(a), canonical_value(b))
        for flow, pairs in spec.items()
        for a, b in pairs
    } == chain_verify._LEGAL
    ends = {b for pairs in spec.values() for _, b in pairs} - {a for pairs in spec.values() for a, _ in pairs}
    from flosspay.domain.payment import FINAL_STATUSES

    assert ends == chain.FINAL_STATUSES == {s.value for s in FINAL_STATUSES}
    assert {canonical_value(s) for s in ends - {"COMPLETED"}} == chain_verify._ENDED


def test_a_head_at_seq_0_is_the_genesis_value_or_a_problem() -> None:
    lines = export(good_ledger())
    assert verify_lines(lines, expected_heads={0: GENESIS}).ok
    report = verify_lines(lines, expected_heads={0: bytes(31) + b"\x01"})
    assert [(p.seq, p.what[:48]) for p in report.problems] == [(0, "the chain hash at seq 0 differs from the expecte")]
