"""The verifier, defect by defect: the exact problem (seq and text) for each kind of damage, in
both the fast (plain) line form and the general (re-parsed) form, plus its reporting helpers."""

from __future__ import annotations

import copy
import gc
import json
import uuid
from collections.abc import Callable
from typing import Any

import pytest

from flosspay.domain.chain import (
    GENESIS,
    Checkpoint,
    Facts,
    Pending,
    canonical,
    canonical_object,
    checkpoint_line,
    end_line,
    header_line,
    link_all,
    link_hash,
    record_line,
)
from flosspay.domain.ledger import payment_entry_id
from flosspay.ledger_verify import ChainVerifier, Problem, Report, describe, merge_reports, verify_lines
from tests.unit.test_chain import BACK, E1, P1, POSTINGS, T0, entry, export, good_ledger, hist, paid

pytestmark = pytest.mark.unit

PID = "00000000-0000-4000-8000-000000000001"
EID = str(E1)
E9 = uuid.UUID(int=9)
"""The reversal of ``E1`` in ``good_ledger``."""
INEXACT = "a line is not in its one exact encoding (compact JSON, canonical values, one \\n at the end)"
MISMATCH = "hash mismatch: this record or its link was changed after it was chained"
NOT_COMPLETED = f"entry {EID}: payment {PID} has not COMPLETED earlier in the chain, or has its entry"
REVERSAL_ORPHAN = (
    f"entry 00000000-0000-0000-0000-000000000009: references entry {EID}, which is not earlier in the chain"
)
END_NO_ENTRY = f"payment {PID} COMPLETED at seq 3, but its payment entry is not in the chain"
AFTER_FINAL = "{}: a history row after the payment's final status"
NO_ROW = f"payment {PID}: history row {{}} with no earlier rows"
# What follows when the first row of P1 is refused: its later rows and entry, and the reversal.
CASCADE_FROM_1 = [(2, NO_ROW.format(1)), (3, NO_ROW.format(2)), (4, NOT_COMPLETED), (9, REVERSAL_ORPHAN)]


def problems(report: Report) -> list[tuple[int, str]]:
    return [(p.seq, p.what) for p in report.problems]


def loosen(line: bytes) -> bytes:
    """The same line with spaces after separators: never the plain form, so the general path."""
    return json.dumps(json.loads(line), separators=(", ", ": ")).encode() + b"\n"


def both_forms(lines: list[bytes], **kwargs: Any) -> list[tuple[int, str]]:
    """The problems of ``lines``, after checking that the general path finds exactly the same."""
    fast = verify_lines(lines, **kwargs)
    slow = verify_lines([loosen(line) for line in lines], **{"max_problems": 10_000, **kwargs})
    # Every loosened line is refused for its encoding; the rules must still judge what it says alike.
    assert (0, INEXACT) in problems(slow)
    assert problems(fast) == [p for p in problems(slow) if p[1] != INEXACT][: len(fast.problems)]
    assert (fast.head_seq, fast.head_hash, fast.records) == (slow.head_seq, slow.head_hash, slow.records)
    return problems(fast)


def records() -> list[list[Any]]:
    return [json.loads(line)["record"] for line in export(good_ledger())[1:-1]]


def relinked(values: list[list[Any]]) -> list[bytes]:
    """An export of arbitrary record values, every hash recomputed (so only the rules can object)."""
    prev, lines = GENESIS, [header_line(T0)]
    for value in values:
        record = canonical(value)
        prev = link_hash(prev, record)
        lines.append(record_line(value[0], prev, record))
    return [*lines, end_line(values[-1][0] if values else 0, prev)]


def changed(seq: int, change: Callable[[list[Any]], object]) -> list[bytes]:
    values = records()
    change(values[seq - 1])
    return relinked(values)


# --- the ledger rules, one defect each -------------------------------------------------------------


@pytest.mark.parametrize(
    ("seq", "change", "complaint"),
    [
        (1, lambda r: r.__setitem__(1, "hist"), "unknown record kind 'hist'"),
        (1, lambda r: r.__setitem__(slice(2, None), []), "a history record has 14 fields, the reason last"),
        (1, lambda r: r.pop(), "a history record has 14 fields, the reason last"),
        (1, lambda r: r.__setitem__(13, 5), "a history record has 14 fields, the reason last"),
        (1, lambda r: r.append("x"), "a history record has 14 fields, the reason last"),
        (1, lambda r: r.__setitem__(9, "inr"), f"payment {PID}: inr is not an ISO 4217 currency"),
        (1, lambda r: r.__setitem__(9, "XYZ"), f"payment {PID}: XYZ is not an ISO 4217 currency"),
        (1, lambda r: r.__setitem__(10, 0), f"payment {PID}: the amount is not an integer from 1 to 10^15 - 1"),
        (1, lambda r: r.__setitem__(10, 10**15), f"payment {PID}: the amount is not an integer from 1 to 10^15 - 1"),
        (1, lambda r: r.__setitem__(8, "PUSH"), f"payment {PID}: a PUSH payment cannot start in QUEUED"),
        (1, lambda r: r.__setitem__(4, "QUEUED"), f"payment {PID}: a PAY payment cannot start in QUEUED"),
        (
            1,  # a legal step, but not a first one: a payment's first row has no from-status
            lambda r: r.__setitem__(slice(4, 6), ["QUEUED", "PROCESSING"]),
            f"payment {PID}: a PAY payment cannot start in PROCESSING",
        ),
        (1, lambda r: r.__setitem__(8, "COLLECT"), f"payment {PID}: a COLLECT payment cannot start in QUEUED"),
    ],
)
def test_a_refused_first_row_is_named_and_its_payment_is_not_followed(
    seq: int, change: Callable[[list[Any]], object], complaint: str
) -> None:
    assert both_forms(changed(seq, change)) == [(seq, complaint), *CASCADE_FROM_1]


@pytest.mark.parametrize(
    ("change", "complaint"),
    [
        (lambda r: r.pop(), "an entry record has 9 fields, the postings 8th and the description last"),
        (lambda r: r.__setitem__(7, "x"), "an entry record has 9 fields, the postings 8th and the description last"),
        (lambda r: r.__setitem__(8, 1), "an entry record has 9 fields, the postings 8th and the description last"),
        (lambda r: r.append("x"), "an entry record has 9 fields, the postings 8th and the description last"),
        (lambda r: r.__setitem__(3, "gift"), f"entry {EID}: unknown kind gift"),
        (lambda r: r.__setitem__(4, None), f"entry {EID}: a payment entry names its payment and references no entry"),
        (lambda r: r.__setitem__(7, r[7][:1]), f"entry {EID}: fewer than two postings"),
        (lambda r: r.__setitem__(7, []), f"entry {EID}: fewer than two postings"),
        (lambda r: r[7][0].__setitem__(2, -2801), f"entry {EID}: postings in INR sum to -1, not 0 (unbalanced)"),
        (
            lambda r: r.__setitem__(7, [["a:b", "INR", 2800], ["a:c", "INR", -2800], ["a:d", "USD", 2800]]),
            f"entry {EID}: postings in USD sum to 2800, not 0 (unbalanced)",
        ),
        (
            lambda r: r.__setitem__(7, [["a:b", "INR", 2800], ["a:c", "USD", -2800]]),
            f"entry {EID}: postings in INR sum to 2800, not 0 (unbalanced)",
        ),
        (
            lambda r: r.__setitem__(7, [["a:b", "INR", 2800], ["a:c", "INR", -2800], ["a:d", "INR", 1]]),
            f"entry {EID}: postings in INR sum to 1, not 0 (unbalanced)",
        ),
        (
            lambda r: r.__setitem__(
                7, [["a:b", "INR", 2800], ["a:c", "INR", -2800], ["a:d", "INR", 1], ["a:e", "INR", -1]]
            ),
            f"entry {EID}: posting of 1 INR to a:d does not move the payment's 2800 INR",
        ),
        (
            lambda r: r.__setitem__(7, [["a:b", "USD", 2800], ["a:c", "USD", -2800]]),
            f"entry {EID}: posting of 2800 USD to a:b does not move the payment's 2800 INR",
        ),
    ],
)
def test_a_refused_payment_entry_is_named_at_its_seq(change: Callable[[list[Any]], object], complaint: str) -> None:
    expected = [(4, complaint), (9, REVERSAL_ORPHAN)]
    if "unknown kind" in complaint or "names its payment" in complaint:
        expected.append((0, END_NO_ENTRY))  # not a payment entry of P1 at all: P1 has none
    assert both_forms(changed(4, change)) == expected


@pytest.mark.parametrize(
    "posting",
    [
        ["a:b", "INR"],
        ["a:b", "INR", 1, 2],
        [5, "INR", 1],
        ["a:b", 5, 1],
        ["a:b", "INR", 1.0],
        ["a:b", "INR", "1"],
        ["a:b", "INR", True],
        ["a:b", "INR", 0],
        "x",
    ],
)
def test_a_posting_is_an_account_a_currency_and_a_non_zero_integer(posting: object) -> None:
    complaint = f"entry {EID}: a posting is [account, currency, non-zero integer amount]"
    assert both_forms(changed(4, lambda r: r[7].__setitem__(0, posting))) == [(4, complaint), (9, REVERSAL_ORPHAN)]


@pytest.mark.parametrize(
    ("posting", "complaint"),
    [
        (["", "INR", 1], "'' is not an account name in its canonical spelling"),
        (["x", "INR", 1], "'x' is not an account name in its canonical spelling"),
        (["a:%c3%a9", "INR", 1], "'a:%c3%a9' is not an account name in its canonical spelling"),
        (["a:%41", "INR", 1], "'a:%41' is not an account name in its canonical spelling"),
        (["a:\u00e9", "INR", 1], "'a:\u00e9' is not an account name in its canonical spelling"),
        (["a:b", "", 1], "'' is not an ISO 4217 currency"),
        (["a:b", "inr", 1], "'inr' is not an ISO 4217 currency"),
        (["a:b", "INRR", 1], "'INRR' is not an ISO 4217 currency"),
        (["a:b", "XYZ", 1], "'XYZ' is not an ISO 4217 currency"),
        (["a:b", "INR", 10**15], "a posting's amount is 10^15 or more"),
    ],
)
def test_a_postings_account_currency_and_amount_are_in_their_exact_formats(posting: object, complaint: str) -> None:
    found = both_forms(changed(4, lambda r: r[7].__setitem__(0, posting)))
    assert found == [(4, f"entry {EID}: {complaint}"), (9, REVERSAL_ORPHAN)]


def test_an_entry_may_hold_postings_of_one_unit_and_a_one_letter_account() -> None:
    values = records()
    values[8][3] = "correction"
    values[8][7] = [["x:a", "INR", 1], ["y:b", "INR", -1]]
    assert both_forms(relinked(values)) == []


def test_a_reversal_must_undo_exactly_the_entry_it_references() -> None:
    values = records()
    undone = f"entry {E9}: a reversal negates each posting of entry {EID}, in order; this one does not"
    other_payment = (
        f"entry {E9}: a reversal names the payment of entry {EID} (or none if it names none); this one does not"
    )
    values[8][7] = [["upi:vpa:alice@upi", "INR", 1], ["upi:clearing", "INR", -1]]
    assert both_forms(relinked(values)) == [(9, undone)]
    values[8][7] = values[3][7]  # the original's postings, not negated
    assert both_forms(relinked(values)) == [(9, undone)]
    values[8][7] = [[a, c, -m] for a, c, m in values[3][7]][:2] + [[a, c, -m] for a, c, m in values[3][7]][2:][::-1]
    assert values[8][7] != [[a, c, -m] for a, c, m in values[3][7]]
    assert both_forms(relinked(values)) == [(9, undone)]
    values[8][7] = [[a, c, -m] for a, c, m in values[3][7]]
    assert both_forms(relinked(values)) == []
    for other in (None, str(uuid.UUID(int=3))):  # no payment, or another one
        values[8][4] = other
        assert both_forms(relinked(values)) == [(9, other_payment)]
    values[8][4] = values[3][4]
    assert both_forms(relinked(values)) == []
    values.append([10, "entry", str(uuid.UUID(int=10)), "reversal", None, str(E9), values[8][6], values[3][7], "again"])
    assert both_forms(relinked(values)) == [
        (10, f"entry {uuid.UUID(int=10)}: entry {E9} is itself a reversal, and a reversal is not reversed")
    ]


def test_history_rows_after_the_first_are_checked_in_this_order() -> None:
    def row(change: Callable[[list[Any]], object]) -> list[tuple[int, str]]:
        return both_forms(changed(2, change))

    assert row(lambda r: r.__setitem__(3, 2)) == [
        (2, f"payment {PID}: history row 2 where row 1 belongs"),
        (3, f"payment {PID}: history row 2 where row 1 belongs"),
        (4, NOT_COMPLETED),
        (9, REVERSAL_ORPHAN),
    ]
    assert row(lambda r: r.__setitem__(11, "cl_y"))[0] == (
        2,
        f"payment {PID}: flow, amount, client or rail differ from the payment's first row",
    )
    assert row(lambda r: r.__setitem__(4, "REQUESTED"))[0] == (
        2,
        f"payment {PID}: row says from REQUESTED but the payment was QUEUED",
    )
    assert row(lambda r: r.__setitem__(5, "COMPLETED"))[0] == (
        2,
        f"payment {PID}: illegal transition QUEUED -> COMPLETED for a PAY payment",
    )


def test_a_payment_may_go_on_for_more_than_64_rows() -> None:
    pid = uuid.UUID(int=77)
    facts: list[Facts] = [hist(pid, 0, None, "QUEUED"), hist(pid, 1, "QUEUED", "PROCESSING")]
    for index in range(2, 130, 2):
        facts += [
            hist(pid, index, "PROCESSING", "ACTION_REQUIRED"),
            hist(pid, index + 1, "ACTION_REQUIRED", "PROCESSING"),
        ]
    facts.append(hist(pid, 130, "PROCESSING", "FAILED"))
    assert both_forms(export(facts)) == []
    skipped = [*facts[:100], hist(pid, 101, "ACTION_REQUIRED", "PROCESSING")]
    name = "00000000-0000-0000-0000-00000000004d"
    assert both_forms(export(skipped)) == [(101, f"payment {name}: history row 101 where row 100 belongs")]
    repeated = [*facts[:100], hist(pid, 99, "ACTION_REQUIRED", "PROCESSING")]
    assert both_forms(export(repeated)) == [(101, f"payment {name}: history row 99 where row 100 belongs")]


def test_a_final_status_ends_the_payment_in_either_path() -> None:
    pid = uuid.UUID(int=5)
    name = "00000000-0000-0000-0000-000000000005"
    for final in ("DECLINED", "EXPIRED", "FAILED"):
        facts: list[Facts] = [
            hist(pid, 0, None, "REQUESTED", flow="COLLECT"),
            hist(pid, 1, "REQUESTED", "PROCESSING", flow="COLLECT"),
            hist(pid, 2, "PROCESSING", final, flow="COLLECT"),
            hist(pid, 3, final, "PROCESSING", flow="COLLECT"),
        ]
        expected = [(4, AFTER_FINAL.format(f"payment {name}"))]
        assert both_forms(export(facts)) == expected
        # After a general-path row (a description with an escape first makes the row unusual).
        facts[2] = hist(pid, 2, "PROCESSING", final, flow="COLLECT")
        odd = [*facts[:2], _with_reason(facts[2], 'a "quoted" reason'), facts[3]]
        assert both_forms(export(odd)) == expected


def _with_reason(facts: Facts, reason: str) -> Facts:
    from dataclasses import replace

    return replace(facts, reason=reason)  # type: ignore[type-var]


def test_unusual_but_legal_rows_and_entries_verify_through_the_general_path() -> None:
    odd_client = [
        _with_reason(hist(P1, 0, None, "QUEUED"), 'say "hi", ok'),
        _with_reason(hist(P1, 1, "QUEUED", "PROCESSING"), "x,y"),
        _with_reason(hist(P1, 2, "PROCESSING", "COMPLETED"), "\\"),
        entry(E1, P1, postings=(("a:%C3%A9", "INR", -2800), *POSTINGS[1:3], ("a:b", "INR", 2800))),
        entry(uuid.UUID(int=9), P1, "reversal", E1, (("a:%C3%A9", "INR", 2800), *BACK[1:3], ("a:b", "INR", -2800))),
        entry(uuid.UUID(int=10), P1, "correction", E1, (("a:b", "INR", 5), ("a:c", "INR", -5))),
    ]
    assert both_forms(export(odd_client)) == []


def test_entries_referencing_others_are_checked() -> None:
    e9, e10 = uuid.UUID(int=9), uuid.UUID(int=10)
    back = tuple((a, c, -m) for a, c, m in POSTINGS)
    reversed_twice = [
        *paid(P1),
        entry(E1, P1),
        entry(e9, P1, "reversal", E1, back),
        entry(e10, P1, "reversal", E1, back),
    ]
    assert both_forms(export(reversed_twice)) == [(6, f"entry {e10}: entry {EID} is reversed twice")]
    corrected_twice = [
        *paid(P1),
        entry(E1, P1),
        entry(e9, P1, "correction", E1),
        entry(e10, P1, "correction", E1),
        entry(uuid.UUID(int=11), P1, "reversal", e9, back),
        entry(uuid.UUID(int=12), P1, "correction", e10, back),  # a correction may be corrected
    ]
    assert both_forms(export(corrected_twice)) == []
    corrected_elsewhere = [*paid(P1), entry(E1, P1), entry(e9, None, "correction", E1)]
    assert both_forms(export(corrected_elsewhere)) == [
        (5, f"entry {e9}: a correction names the payment of entry {EID} (or none if it names none); this one does not")
    ]
    unreferenced = [*paid(P1), entry(E1, P1), entry(e9, None, "reversal", None, back)]
    assert both_forms(export(unreferenced)) == [(5, f"entry {e9}: a reversal must reference the entry it changes")]
    twice = [*paid(P1), entry(E1, P1), entry(E1, P1, "correction", E1)]
    assert both_forms(export(twice)) == [(5, f"entry {EID}: chained twice")]
    second_payment = [*paid(P1), entry(E1, P1), entry(e9, P1)]
    assert both_forms(export(second_payment)) == [
        (5, f"entry {e9}: payment {PID} has not COMPLETED earlier in the chain, or has its entry")
    ]
    p2 = uuid.UUID(int=2)
    fresh_payment_entry_again = [*paid(P1), entry(E1, P1), *paid(p2), entry(E1, p2)]
    assert both_forms(export(fresh_payment_entry_again)) == [(8, f"entry {EID}: chained twice")]


def test_a_payment_entry_that_names_no_payment_or_a_reference_is_refused() -> None:
    no_payment = [*paid(P1), entry(E1, None)]
    message = f"entry {EID}: a payment entry names its payment and references no entry"
    assert both_forms(export(no_payment)) == [(4, message), (0, END_NO_ENTRY)]
    assert both_forms(export([*paid(P1), entry(E1, P1, ref=E1)])) == [(4, message)]


def test_a_payment_entry_must_pair_each_debit_with_a_credit_of_the_amount() -> None:
    lopsided = (("a:b", "INR", -2800), ("a:c", "INR", -2800), ("a:d", "INR", 5600))
    assert both_forms(export([*paid(P1), entry(E1, P1, postings=lopsided)])) == [
        (4, f"entry {EID}: posting of 5600 INR to a:d does not move the payment's 2800 INR")
    ]
    four = f"entry {EID}: a payment entry posts four lines: payer -a, upi:clearing +a, upi:clearing -a, payee +a"
    six = (*POSTINGS, ("a:x", "INR", -2800), ("a:y", "INR", 2800))
    assert both_forms(export([*paid(P1), entry(E1, P1, postings=six)])) == [(4, four)]
    two = (("a:x", "INR", -2800), ("a:y", "INR", 2800))
    assert both_forms(export([*paid(P1), entry(E1, P1, postings=two)])) == [(4, four)]
    swapped = (POSTINGS[1], POSTINGS[0], POSTINGS[3], POSTINGS[2])
    assert both_forms(export([*paid(P1), entry(E1, P1, postings=swapped)])) == [(4, four)]
    other_amount = [*paid(P1, 28), entry(E1, P1, postings=(("a:x", "INR", -280), ("a:y", "INR", 280)))]
    assert both_forms(export(other_amount)) == [
        (4, f"entry {EID}: posting of -280 INR to a:x does not move the payment's 28 INR")
    ]
    quoted = [*paid(P1), entry(E1, P1, postings=(('a:"x"', *POSTINGS[0][1:]), *POSTINGS[1:]))]
    assert both_forms(export(quoted)) == [
        (4, f"entry {EID}: 'a:\"x\"' is not an account name in its canonical spelling")
    ]


# --- the chain: sequence, hashes, framing ----------------------------------------------------------


def test_sequence_defects_are_named_with_the_missing_range() -> None:
    lines = export(good_ledger())
    assert problems(verify_lines([lines[0], lines[1], *lines[4:]])) == [
        (2, "sequence gap: seq 2..3 missing (next record is seq 4)"),
        (4, MISMATCH),
        (4, NOT_COMPLETED),
        (9, REVERSAL_ORPHAN),
    ]
    assert problems(verify_lines([*lines[:3], lines[4], lines[3], *lines[5:]])) == [
        (3, "sequence gap: seq 3 missing (next record is seq 4)"),
        (3, MISMATCH),  # seq 3, arriving after seq 4
        (4, MISMATCH),
        (4, NOT_COMPLETED),
        (4, "sequence gap: seq 4 missing (next record is seq 5)"),
        (5, "sequence out of order: found seq 3 where seq 5 belongs"),
        (5, MISMATCH),
        (9, REVERSAL_ORPHAN),
        (0, END_NO_ENTRY),  # its entry came before it COMPLETED
    ]
    assert problems(verify_lines([*lines[:4], lines[2], *lines[4:]])) == [
        (2, MISMATCH),
        (2, f"payment {PID}: history row 1 where row 3 belongs"),
        (3, "sequence gap: seq 3 missing (next record is seq 4)"),
        (4, "sequence out of order: found seq 2 where seq 4 belongs"),
        (4, MISMATCH),
    ]
    no_seq = [lines[0], lines[1].replace(b"[1,", b'["x",'), *lines[2:]]
    assert problems(verify_lines(no_seq)) == [(1, "the record does not start with its sequence number"), (1, MISMATCH)]
    not_json = [lines[0], lines[1].replace(b"[1,", b"[1x,"), *lines[2:]]
    assert problems(verify_lines(not_json)) == [
        (1, "the record does not start with its sequence number"),
        (1, MISMATCH),
    ]
    values = records()
    odd = relinked(values)
    odd[9] = odd[9].replace(b'"completed"]}', b'"completed"x]}')  # the reversal: general path
    assert problems(verify_lines(odd)) == [(9, MISMATCH), (9, "the record is not JSON")]


def test_a_stored_hash_that_is_not_hex_is_named_and_the_next_link_then_fails() -> None:
    lines = export(good_ledger())
    stored = json.loads(lines[1])["hash"].encode()
    assert problems(verify_lines([lines[0], lines[1].replace(stored, b"g" * 64), *lines[2:]])) == [
        (1, MISMATCH),
        (1, "the stored hash is not 64 hex digits"),
        (2, MISMATCH),
    ]


def test_the_framing_is_checked_line_by_line() -> None:
    lines = export(good_ledger())
    assert problems(verify_lines([])) == [(0, "the export has no header line")]
    assert problems(verify_lines([lines[0], *lines])) == [(1, "a second header line")]
    assert problems(verify_lines([*lines[:2], lines[0], *lines[2:]])) == [(2, "a second header line")]
    wrong = b'{"format":"x","version":1,"genesis":"00"}\n'
    assert problems(verify_lines([wrong, *lines[1:]])) == [
        (0, "not a flosspay-ledger-export version 1 or 2 file"),
        (0, "unexpected genesis value"),
    ]
    v3 = lines[0].replace(b'"version":2', b'"version":3')
    assert problems(verify_lines([v3, *lines[1:]])) == [(0, "not a flosspay-ledger-export version 1 or 2 file")]
    v1 = lines[0].replace(b'"version":2', b'"version":1')
    assert verify_lines([v1, *lines[1:]]).ok  # no checkpoint line here: version 1 reads the same
    text = lines[0].replace(b'"version":2', b'"version":"2"')
    assert problems(verify_lines([text, *lines[1:]])) == [(0, "not a flosspay-ledger-export version 1 or 2 file")]
    assert problems(verify_lines([lines[0], b'{"foo":1}\n', *lines[1:]])) == [(1, "a line of unknown type")]
    assert problems(verify_lines([*lines[:2], b'{"foo":1}\n', *lines[2:]])) == [(2, "a line of unknown type")]
    assert problems(verify_lines([*lines[:2], b"[1]\n", *lines[2:]])) == [
        (2, "a line of the export is not a JSON object")
    ]
    assert problems(verify_lines([*lines, b"{}\n", b"{}\n"])) == [(10, "lines after the end line")] * 2
    assert problems(verify_lines([*lines, lines[1]])) == [(10, "lines after the end line")]
    for end in (
        b'{"end":5}\n',
        b'{"end":{"seq":9}}\n',
        b'{"end":{"hash":"00"}}\n',
        b'{"end":{"seq":"9","hash":"0"}}\n',
    ):
        assert problems(verify_lines([*lines[:-1], end])) == [(9, "malformed end line")]
    assert problems(verify_lines([*lines[:-1], end_line(9, GENESIS)])) == [
        (9, "the end line's head hash differs from the chain's")
    ]
    assert problems(verify_lines([*lines[:-1], end_line(8, GENESIS)])) == [
        (9, "the end line says the chain ends at seq 8, but it ends at seq 9")
    ]


def test_framing_problems_are_ordered_as_the_file_is() -> None:
    lines = export(good_ledger())
    report = verify_lines(lines[1:])
    assert [(p.seq, p.what, p.rank) for p in report.problems] == [
        (0, "the export does not start with its header line", -1.0),
    ]
    report = verify_lines(lines[1:-1])
    assert [(p.seq, p.what, p.rank) for p in report.problems] == [
        (0, "the export has no header line", float("inf")),  # only plain record lines were seen
    ]
    report = verify_lines([*lines[1:-1], lines[0]])
    assert [(p.seq, p.what, p.rank) for p in report.problems] == [
        (0, "the export has no end line: it is truncated", float("inf")),
    ]
    report = verify_lines(lines[:-1], expected_heads={99: GENESIS, 50: GENESIS})
    assert [(p.what, p.rank) for p in report.problems][1:] == [
        ("the chain ends at seq 9, before the expected head at seq 50", float("inf")),
        ("the chain ends at seq 9, before the expected head at seq 99", float("inf")),
    ]
    head = link_all(0, GENESIS, [Pending(f, 0) for f in good_ledger()])[-1].hash
    assert verify_lines(lines, expected_heads={9: head}).ok
    assert problems(verify_lines(lines, expected_heads={9: GENESIS})) == [
        (9, f"the chain hash at seq 9 differs from the expected head {GENESIS.hex()}")
    ]
    no_header = ChainVerifier(require_header=False)
    assert no_header.verify(lines[1:]).ok
    assert [(p.seq, p.what, p.rank) for p in ChainVerifier().verify([]).problems] == [
        (0, "the export has no header line", float("inf"))
    ]
    assert ChainVerifier(require_header=True).verify([lines[0], end_line(0, GENESIS)]).ok
    assert problems(ChainVerifier().verify([lines[0]])) == [(0, "the export has no end line: it is truncated")]


def test_record_lines_in_their_other_forms() -> None:
    lines = export(good_ledger())
    link = json.loads(lines[1])
    stored, record = link["hash"], json.dumps(link["record"], separators=(",", ":"))
    said = f'{{"problem":"row gone","seq":1,"hash":"{stored}","record":{record}}}\n'.encode()
    assert problems(verify_lines([lines[0], said, *lines[2:]])) == [(1, "row gone")]
    not_array = f'{{"seq":1,"hash":"{stored}","record":5}}\n'.encode()
    assert problems(verify_lines([lines[0], not_array, *lines[2:]]))[:1] == [(1, "the record is not a JSON array")]
    both = f'{{"problem":"gone","seq":1,"hash":"{stored}","record":5}}\n'.encode()
    assert problems(verify_lines([lines[0], both, *lines[2:]]))[:1] == [(1, "gone")]
    nan = f'{{"seq":1,"hash":"{stored}","record":[1,NaN]}}\n'.encode()
    assert problems(verify_lines([lines[0], nan, *lines[2:]]))[:1] == [(1, "the record cannot be encoded canonically")]
    missing = f'{{"seq":1,"hash":"{stored}","record":null}}\n'.encode()
    assert problems(verify_lines([lines[0], missing, *lines[2:]]))[:1] == [(1, "record missing")]
    odd_problem = f'{{"problem":5,"seq":1,"hash":"{stored}","record":null}}\n'.encode()
    assert problems(verify_lines([lines[0], odd_problem, *lines[2:]]))[:1] == [(1, "record missing")]
    gap = f'{{"seq":3,"hash":"{stored}","record":null}}\n'.encode()
    assert problems(verify_lines([lines[0], gap, *lines[3:]]))[:2] == [
        (1, "sequence gap: seq 1..2 missing (next record is seq 3)"),
        (3, "record missing"),
    ]
    for bad in (b'{"hash":"zz","record":[1]}\n', b'{"seq":"1","hash":"' + stored.encode() + b'"}\n'):
        assert problems(verify_lines([lines[0], bad, *lines[2:]]))[:1] == [
            (1, "a record line without a sequence number or a 64-hex-digit hash")
        ]
    upper = lines[1].replace(stored.encode(), stored.upper().encode())
    assert problems(verify_lines([lines[0], loosen(upper), *lines[2:]]))[:1] == [
        (1, "a record line without a sequence number or a 64-hex-digit hash")
    ]
    pinned = verify_lines([lines[0], said, *lines[2:]], expected_heads={1: GENESIS})
    assert problems(pinned) == [
        (1, "row gone"),
        (1, f"the chain hash at seq 1 differs from the expected head {GENESIS.hex()}"),
    ]


# --- checkpoints -----------------------------------------------------------------------------------


def _with_checkpoint(raw: object, after: int = 3) -> list[bytes]:
    lines = export(good_ledger())
    return [*lines[: after + 1], canonical_object({"checkpoint": raw}) + b"\n", *lines[after + 1 :]]


def _head(seq: int) -> str:
    return link_all(0, GENESIS, [Pending(f, 0) for f in good_ledger()])[seq - 1].hash.hex()


def _cp(**changes: object) -> dict[str, object]:
    """A version-2 checkpoint line's body (the first checkpoint: it names 64 zeros as its previous one)."""
    at = "2026-01-01T12:00:00.000000Z"
    return {"seq": 3, "hash": _head(3), "at": at, "prev": "0" * 64, "key": None, "signature": None} | changes


def test_every_checkpoint_defect_is_named() -> None:
    ok = verify_lines(_with_checkpoint(_cp()))
    assert ok.ok and ok.checkpoints == 1 and ok.signed_checkpoints == ok.unchecked_signatures == 0
    cases: list[tuple[object, str]] = [
        (5, "malformed checkpoint line"),
        (_cp(seq="3"), "malformed checkpoint line"),
        (_cp(hash=5), "malformed checkpoint line"),
        (_cp(hash="ab"), "malformed checkpoint line"),
        (_cp(at=5), "malformed checkpoint line"),
        (_cp(prev="ab"), "malformed checkpoint line"),
        (
            _cp(prev="1" * 64),
            "checkpoint at seq 3 names previous checkpoint "
            + "1" * 64
            + ", but the one before it is "
            + "0" * 64
            + " (a checkpoint line was removed, added or changed)",
        ),
        (_cp(seq=2), "checkpoint for seq 2 placed after seq 3"),
        (_cp(hash=_head(2)), f"checkpoint at seq 3 records hash {_head(2)}, the chain has {_head(3)}"),
        (_cp(at="2026-01-01T12:00:00Z"), "checkpoint time is malformed"),
        (_cp(key=5, signature="00"), "malformed checkpoint signature"),
        (_cp(key="00", signature=5), "malformed checkpoint signature"),
        (_cp(key="0g", signature="00"), "malformed checkpoint signature"),
        (_cp(key="00", signature="0"), "malformed checkpoint signature"),
    ]
    for raw, complaint in cases:
        assert problems(verify_lines(_with_checkpoint(raw))) == [(3, complaint)], raw
    assert verify_lines(_with_checkpoint(5)).checkpoints == 0
    assert verify_lines(_with_checkpoint(_cp(seq="3"))).checkpoints == 1


def test_checkpoint_signatures_against_trusted_keys() -> None:
    calls: list[tuple[bytes, bytes, bytes]] = []

    def check(key: bytes, message: bytes, signature: bytes) -> bool:
        calls.append((key, message, signature))
        return signature == b"\x01"

    trusted = {"check_signature": check, "trusted_keys": [b"\xaa"]}
    signed = verify_lines(_with_checkpoint(_cp(key="aa", signature="01")), **trusted)  # type: ignore[arg-type]
    assert signed.ok and (signed.checkpoints, signed.signed_checkpoints, signed.unchecked_signatures) == (1, 1, 0)
    message = (
        b'["flosspay-checkpoint",3,"' + _head(3).encode() + b'","2026-01-01T12:00:00.000000Z","' + b"0" * 64 + b'"]'
    )
    assert calls == [(b"\xaa", message, b"\x01")]
    forged = verify_lines(_with_checkpoint(_cp(key="aa", signature="02")), **trusted)  # type: ignore[arg-type]
    assert problems(forged) == [(3, "checkpoint at seq 3: the signature does not verify")]
    assert forged.signed_checkpoints == 0
    stranger = verify_lines(_with_checkpoint(_cp(key="bb", signature="01")), **trusted)  # type: ignore[arg-type]
    assert problems(stranger) == [(3, "checkpoint at seq 3 is signed by key bb, which is not trusted")]
    report = verify_lines(_with_checkpoint(_cp()), **trusted)  # type: ignore[arg-type]
    assert problems(report) == [(3, "checkpoint at seq 3 is not signed")]
    assert verify_lines(_with_checkpoint(_cp())).ok
    for half in (_cp(key="aa"), _cp(signature="01")):  # a key with no signature is an error, pinned or not
        for kwargs in (trusted, {}):
            assert problems(verify_lines(_with_checkpoint(half), **kwargs)) == [  # type: ignore[arg-type]
                (3, "checkpoint at seq 3 has a key without a signature, or a signature without a key")
            ]
    unchecked = verify_lines(_with_checkpoint(_cp(key="bb", signature="02")))
    assert unchecked.ok and (unchecked.unchecked_signatures, unchecked.signed_checkpoints) == (1, 0)
    any_key = verify_lines(_with_checkpoint(_cp(key="bb", signature="01")), check_signature=check)
    assert any_key.ok and any_key.signed_checkpoints == 1


def test_a_checkpoint_line_from_the_exporter_verifies() -> None:
    head = bytes.fromhex(_head(3))
    lines = export(good_ledger(), {3: Checkpoint(3, head, T0)})
    assert verify_lines(lines).ok and verify_lines(lines).checkpoints == 1
    assert checkpoint_line(Checkpoint(3, head, T0)) in lines


# --- the fast path is taken, and the loop's bookkeeping ----------------------------------------------


class _Spy(ChainVerifier):
    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.general: list[int] = []
        self.slow: list[bytes] = []

    def _record(self, seq: int, record: bytes) -> None:
        self.general.append(seq)
        super()._record(seq, record)

    def _slow_line(self, line: bytes) -> None:
        self.slow.append(line)
        super()._slow_line(line)


def test_plain_records_of_the_common_shapes_never_take_the_general_path() -> None:
    pid = uuid.UUID(int=70)
    facts: list[Facts] = [*good_ledger(), hist(pid, 0, None, "QUEUED"), hist(pid, 1, "QUEUED", "PROCESSING")]
    for index in range(2, 80, 2):
        facts += [
            hist(pid, index, "PROCESSING", "ACTION_REQUIRED"),
            hist(pid, index + 1, "ACTION_REQUIRED", "PROCESSING"),
        ]
    facts += [hist(pid, 80, "PROCESSING", "COMPLETED"), entry(uuid.UUID(int=71), pid)]
    facts[-1:] = [entry(payment_entry_id(pid), pid)]
    other = (("upi:vpa:x%2By@upi", "INR", -2800), *POSTINGS[1:])
    facts += [*paid(uuid.UUID(int=72)), entry(payment_entry_id(uuid.UUID(int=72)), uuid.UUID(int=72), postings=other)]
    lines = export(facts)
    spy = _Spy()
    assert spy.verify(lines).ok
    assert spy.general == [9, 95]  # the reversal (only payment entries have a fast form), a %-encoded account
    assert spy.slow == [lines[0], lines[-1]]


def test_unusual_records_take_the_general_path_and_are_judged_there() -> None:
    from dataclasses import replace

    lines = export(
        [
            *(replace(row, client_id="c,x") for row in paid(P1)),  # type: ignore[type-var]
            entry(E1, P1, postings=(("a:%5C", "INR", -2800), *POSTINGS[1:])),
        ]
    )
    spy = _Spy()
    assert spy.verify(lines).ok
    assert spy.general == [1, 4]  # later rows compare with the first row's facts, on tokens


def test_progress_is_reported_every_so_many_records() -> None:
    lines = export(good_ledger())
    seen: list[int] = []
    ChainVerifier().verify(lines, seen.append, progress_every=2)
    assert seen == [2, 4, 6, 8]
    seen.clear()
    ChainVerifier().verify(lines, seen.append, progress_every=0)
    assert seen == [1, 2, 3, 4, 5, 6, 7, 8, 9]
    seen.clear()
    ChainVerifier().verify(lines, seen.append, progress_every=9)
    assert seen == [9]
    seen.clear()
    ChainVerifier().verify(lines, seen.append)
    assert seen == []


def test_progress_by_default_every_50000_records() -> None:
    pid_base = 10**6
    prev = GENESIS
    lines = [header_line(T0)]
    for seq in range(1, 50_002):
        record = (
            f'[{seq},"history","00000000-0000-4000-8000-{pid_base + seq:012d}",0,null,"QUEUED",null,'
            '"2026-01-01T12:00:00.000000Z","PAY","INR",1,"c","upi","r"]'
        ).encode()
        prev = link_hash(prev, record)
        lines.append(b'{"hash":"' + prev.hex().encode() + b'","record":' + record + b"}\n")
    lines.append(end_line(50_001, prev))
    seen: list[int] = []
    report = verify_lines(lines, progress=seen.append)
    assert report.ok and report.records == 50_001
    assert seen == [50_000]


def test_verify_leaves_the_garbage_collector_as_it_found_it() -> None:
    lines = export(good_ledger())
    was = gc.isenabled()
    try:
        gc.enable()
        ChainVerifier().verify(lines)
        assert gc.isenabled()
        gc.disable()
        ChainVerifier().verify(lines)
        assert not gc.isenabled()
    finally:
        if was:
            gc.enable()


def test_the_rules_half_places_problems_by_the_records_own_seq() -> None:
    values = records()
    values[3][7] = values[3][7][:1]
    rules = ChainVerifier(links=False)
    report = rules.verify(relinked(values))
    complaint = f"entry {EID}: fewer than two postings"
    assert problems(report) == [(4, complaint), (9, REVERSAL_ORPHAN)]
    for token, placed in ((b"[-4,", 4), (b"[1234567890123456789,", 4), (b"[123456789012345678,", 123456789012345678)):
        lines = relinked(values)
        line = lines[4].replace(b"[4,", token)
        got = problems(ChainVerifier(links=False).verify([*lines[:4], line, *lines[5:]]))
        assert sorted(got) == sorted([(placed, complaint), (9, REVERSAL_ORPHAN)]), token
    links_only = ChainVerifier(rules=False).verify(relinked(values))
    assert links_only.ok


def test_the_rules_half_reads_problem_lines_and_stops_at_the_end() -> None:
    lines = export(good_ledger())
    loose = [loosen(line) for line in lines]
    assert ChainVerifier(links=False).verify(loose).ok  # framing is the chain half's to judge
    rules = ChainVerifier(links=False).verify([*loose, loose[4]])
    assert rules.ok  # a record after the end line is the chain half's to report
    assert ChainVerifier(links=False).verify([lines[0], b"[1]\n", *lines[1:]]).ok
    bad = loose[4].replace(b'"payment"', b'"gift"')
    assert problems(ChainVerifier(links=False).verify([*loose[:4], bad, *loose[5:]])) == [
        (4, f"entry {EID}: unknown kind gift"),
        (9, REVERSAL_ORPHAN),
        (0, END_NO_ENTRY),
    ]
    header_like = b'{"format":"x","hash":"00"}\n'
    assert ChainVerifier(links=False).verify([header_like, *lines[1:]]).ok


# --- reports -----------------------------------------------------------------------------------------


def test_problems_beyond_the_limit_are_counted() -> None:
    lines = export(good_ledger())
    damaged = [lines[0], b"[1]\n", b"[2]\n", b"[3]\n", *lines[1:]]
    report = ChainVerifier(max_problems=2).verify(damaged)
    assert len(report.problems) == 2 and report.more_problems == 1
    report = ChainVerifier(max_problems=1).verify(damaged)
    assert len(report.problems) == 1 and report.more_problems == 2
    many = [lines[0], *([b"[1]\n"] * 101), *lines[1:]]
    assert (len(verify_lines(many).problems), verify_lines(many).more_problems) == (100, 1)
    assert (len(ChainVerifier().verify(many).problems), ChainVerifier().verify(many).more_problems) == (100, 1)


def test_problems_read_as_text() -> None:
    assert str(Problem(3, "bad")) == "seq 3: bad"
    assert str(Problem(0, "bad")) == "bad"


def test_describe_says_what_was_checked_and_what_failed() -> None:
    report = Report(records=9, head_seq=9, head_hash=b"\x01" * 32, checkpoints=2, signed_checkpoints=1)
    head = "head seq 9 hash " + "01" * 32
    assert describe(report) == f"ledger OK: 9 records, {head}; 2 checkpoint(s), 1 with a verified signature"
    report.unchecked_signatures = 1
    suffix = "2 checkpoint(s), 1 with a verified signature, 1 signature(s) not checked"
    assert describe(report) == f"ledger OK: 9 records, {head}; {suffix}"
    report.problems = [Problem(4, "bad"), Problem(0, "framing"), Problem(6, "worse")]
    report.more_problems = 3
    assert describe(report) == "\n".join(
        [
            "ledger verification FAILED at seq 4: bad",
            "  also: framing",
            "  also: seq 6: worse",
            "  ... and 3 more problem(s)",
            f"checked 9 records, {head}; {suffix}",
        ]
    )
    framing = Report(problems=[Problem(0, "no end")])
    assert describe(framing) == "\n".join(
        [
            "ledger verification FAILED in the export: no end",
            "checked 0 records, head seq 0 hash " + "00" * 32 + "; 0 checkpoint(s), 0 with a verified signature",
        ]
    )


def test_merging_the_two_halves_keeps_file_order_and_counts_what_was_left_out() -> None:
    links = Report(
        records=9,
        head_seq=9,
        head_hash=b"\x02" * 32,
        checkpoints=3,
        signed_checkpoints=2,
        unchecked_signatures=1,
        problems=[Problem(5, "b", 5.0), Problem(0, "z", float("inf"))],
        more_problems=4,
    )
    rules = Report(records=9, problems=[Problem(2, "a", 2.0), Problem(7, "c", 7.0)], more_problems=10)
    merged = merge_reports(links, rules)
    assert merged == Report(
        records=9,
        head_seq=9,
        head_hash=b"\x02" * 32,
        checkpoints=3,
        signed_checkpoints=2,
        unchecked_signatures=1,
        problems=[Problem(2, "a"), Problem(5, "b"), Problem(7, "c"), Problem(0, "z")],
        more_problems=14,
    )
    capped = merge_reports(links, rules, max_problems=3)
    assert capped.problems == [Problem(2, "a"), Problem(5, "b"), Problem(7, "c")] and capped.more_problems == 15
    many = Report(problems=[Problem(i, "x", float(i)) for i in range(1, 102)])
    assert (len(merge_reports(many, Report()).problems), merge_reports(many, Report()).more_problems) == (100, 1)


def test_a_report_is_ok_without_problems_and_names_the_first() -> None:
    assert Report().ok and Report().first_problem is None
    report = Report(problems=[Problem(2, "a"), Problem(3, "b")])
    assert not report.ok and report.first_problem == Problem(2, "a")
    assert copy.copy(report) == report


def test_a_later_history_row_with_a_field_too_many_is_refused_in_either_path() -> None:
    found = both_forms(changed(2, lambda r: r.append("x")))
    assert found[0] == (2, "a history record has 14 fields, the reason last")
