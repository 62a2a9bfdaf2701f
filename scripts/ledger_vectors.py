"""Write docs/ledger-vectors/: small exports, valid and invalid, with their expected verdicts.

    .venv/bin/python scripts/ledger_vectors.py [DIR]

Deterministic (fixed ids, times and signing key), so the files in the repository are exactly what
this writes; tests/unit/test_ledger_vectors.py checks both that and each verdict.
"""

from __future__ import annotations

import json
import sys
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from flosspay.domain.chain import (
    GENESIS,
    Checkpoint,
    EntryFacts,
    Facts,
    HistoryFacts,
    Pending,
    RefundHistoryFacts,
    checkpoint_line,
    end_line,
    header_line,
    link_all,
    link_hash,
    record_line,
)
from flosspay.domain.ledger import payment_entry_id, refund_entry_id

T0 = datetime(2026, 1, 1, 12, 0, 0, 123456, tzinfo=UTC)
P1 = uuid.UUID("00000000-0000-4000-8000-000000000001")
P2 = uuid.UUID("00000000-0000-4000-8000-000000000002")
KEY = Ed25519PrivateKey.from_private_bytes(bytes(range(32)))
PUBLIC = KEY.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)


def row(pid: uuid.UUID, index: int, frm: str | None, to: str, flow: str = "PAY", **changes: object) -> HistoryFacts:
    values: dict[str, object] = {
        "payment_id": pid,
        "index": index,
        "from_status": frm,
        "to_status": to,
        "attempt": None if index == 0 else 1,
        "at": T0 + timedelta(seconds=index),
        "flow": flow,
        "currency": "INR",
        "amount": 2800,
        "client_id": "cl_demo",
        "rail": "upi",
        "reason": "r",
    }
    values.update(changes)
    return HistoryFacts(**values)  # type: ignore[arg-type]


POSTINGS = (
    ("upi:vpa:alice@upi", "INR", -2800),
    ("upi:clearing", "INR", 2800),
    ("upi:clearing", "INR", -2800),
    ("upi:vpa:bob@upi", "INR", 2800),
)


def paid(pid: uuid.UUID) -> list[Facts]:
    return [
        row(pid, 0, None, "QUEUED"),
        row(pid, 1, "QUEUED", "PROCESSING"),
        row(pid, 2, "PROCESSING", "COMPLETED"),
        EntryFacts(payment_entry_id(pid), "payment", pid, None, T0 + timedelta(seconds=3), POSTINGS, "completed"),
    ]


R1 = uuid.UUID("00000000-0000-4000-8000-0000000000a1")
R2 = uuid.UUID("00000000-0000-4000-8000-0000000000a2")


def refund_row(rid: uuid.UUID, index: int, frm: str | None, to: str, amount: int = 800) -> RefundHistoryFacts:
    at = T0 + timedelta(seconds=20 + index)
    return RefundHistoryFacts(rid, index, frm, to, None if index == 0 else 1, at, P1, "INR", amount, "cl_demo", "r")


def refund_postings(amount: int) -> tuple[tuple[str, str, int], ...]:
    return (
        ("upi:vpa:bob@upi", "INR", -amount),
        ("upi:clearing", "INR", amount),
        ("upi:clearing", "INR", -amount),
        ("upi:vpa:alice@upi", "INR", amount),
    )


def refund(rid: uuid.UUID, amount: int = 800, final: str = "SUCCEEDED") -> list[Facts]:
    """A refund of P1's payment: PENDING, PROCESSING, then ``final`` (and its entry if SUCCEEDED)."""
    rows: list[Facts] = [
        refund_row(rid, 0, None, "PENDING", amount),
        refund_row(rid, 1, "PENDING", "PROCESSING", amount),
        refund_row(rid, 2, "PROCESSING", final, amount),
    ]
    if final == "SUCCEEDED":
        at = T0 + timedelta(seconds=23)
        e1 = payment_entry_id(P1)
        rows.append(EntryFacts(refund_entry_id(rid), "refund", P1, e1, at, refund_postings(amount), f"refund {rid}"))
    return rows


def left_reversal(left: int) -> EntryFacts:
    """The reversal of P1's payment entry once refunds left ``left`` of it."""
    postings = tuple((a, c, left if m < 0 else -left) for a, c, m in POSTINGS)
    return EntryFacts(
        uuid.UUID(int=12), "reversal", P1, payment_entry_id(P1), T0 + timedelta(seconds=30), postings, "r"
    )


def export(
    facts: list[Facts], checkpoints: tuple[int, ...] = (), signed: bool = False, version: int = 2
) -> list[bytes]:
    """An export; from version 2 its checkpoints are chained (each names the digest of the one before)."""
    links = link_all(0, GENESIS, [Pending(f, 0) for f in facts])
    lines = [header_line(T0, version)]
    prev = GENESIS
    for link, item in zip(links, facts, strict=True):
        lines.append(record_line(link.seq, link.hash, item.record(link.seq)))
        if link.seq in checkpoints:
            named = prev if version >= 2 else None
            checkpoint = Checkpoint(link.seq, link.hash, T0 + timedelta(minutes=1), prev=named)
            if signed:
                signature = KEY.sign(checkpoint.message())
                checkpoint = Checkpoint(link.seq, link.hash, checkpoint.at, PUBLIC, signature, named)
            prev = checkpoint.digest()
            lines.append(checkpoint_line(checkpoint, version))
    last = links[-1] if links else None
    lines.append(end_line(last.seq if last else 0, last.hash if last else GENESIS))
    return lines


def relinked(lines: list[bytes], change: Callable[[bytes], bytes], at: int) -> list[bytes]:
    """``lines`` with line ``at`` changed and every later record's hash recomputed (a forger's work)."""
    out, prev = [lines[0]], GENESIS
    for number, line in enumerate(lines[1:-1], start=1):
        if number == at:
            line = change(line)
        if line.startswith(b'{"hash":"'):
            record = line[line.index(b'"record":') + 9 : line.rindex(b"}")]
            prev = link_hash(prev, record)
            line = b'{"hash":"' + prev.hex().encode() + b'","record":' + record + line[line.rindex(b"}") :]
        out.append(line)
    seq = sum(1 for line in out if line.startswith(b'{"hash":"'))
    return [*out, end_line(seq, prev)]


def full() -> list[Facts]:
    e1 = payment_entry_id(P1)
    back = tuple((a, c, -m) for a, c, m in POSTINGS)
    fee = (("upi:vpa:bob@upi", "INR", -150), ("merchant:fees", "INR", 150))
    return [
        *paid(P1),
        row(P2, 0, None, "REQUESTED", "COLLECT"),
        row(P2, 1, "REQUESTED", "PROCESSING", "COLLECT"),
        row(P2, 2, "PROCESSING", "DECLINED", "COLLECT"),
        EntryFacts(uuid.UUID(int=10), "correction", P1, e1, T0 + timedelta(seconds=9), fee, "fee taken afterwards"),
        EntryFacts(uuid.UUID(int=11), "reversal", P1, e1, T0 + timedelta(seconds=9), back, "refund"),
    ]


def vectors() -> dict[str, tuple[list[bytes], dict[str, object]]]:
    """name -> (lines, expected verdict)."""
    good = export(full(), checkpoints=(4,))

    def bad(seq: int, problem: str, **extra: object) -> dict[str, object]:
        return {"ok": False, "seq": seq, "problem": problem, **extra}

    ok: dict[str, object] = {"ok": True}
    failed_then_again = [*paid(P1)[:2], row(P1, 2, "PROCESSING", "FAILED"), *paid(P1)]
    twice = [*paid(P1), *paid(P1)]
    refunds = [*paid(P1), *refund(R1, 800), *refund(R2, 2000, "FAILED"), left_reversal(2000)]
    too_much = [*paid(P1), *refund(R1, 2000)[:2], refund_row(R2, 0, None, "PENDING", 801)]
    signed = export(full(), checkpoints=(4, 7, 9), signed=True)
    key_args = {"args": ["--public-key", PUBLIC.hex()]}
    return {
        "valid-version-1-signed-checkpoint.jsonl": (
            export(full(), checkpoints=(4, 9), signed=True, version=1),
            {"ok": True, **key_args},
        ),
        "invalid-checkpoint-line-removed.jsonl": (
            [line for line in signed if not line.startswith(b'{"checkpoint":{"seq":7,')],
            bad(9, "names previous checkpoint", **key_args),
        ),
        "invalid-checkpoint-line-duplicated.jsonl": (
            [*signed[:6], signed[5], *signed[6:]],
            bad(4, "names previous checkpoint", **key_args),
        ),
        "invalid-version-2-checkpoint-without-prev.jsonl": (
            [*good[:5], good[5].replace(b'"prev":"' + b"0" * 64 + b'",', b""), *good[6:]],
            bad(4, "a checkpoint line has exactly the keys"),
        ),
        "valid-refunds-and-reversal-of-what-is-left.jsonl": (export(refunds), ok),
        "invalid-refunds-exceed-payment.jsonl": (
            export(too_much),
            bad(7, "would hold 2801, more than its 2800"),
        ),
        "invalid-refund-after-reversal.jsonl": (
            export([*paid(P1), left_reversal(2800), refund_row(R1, 0, None, "PENDING")]),
            bad(6, "nothing is refunded after a reversal"),
        ),
        "invalid-refund-succeeded-without-entry.jsonl": (
            export([*paid(P1), *refund(R1)[:3]]),
            bad(0, "SUCCEEDED at seq 7, but its refund entry is not in the chain"),
        ),
        "invalid-refund-entry-without-refund.jsonl": (
            export([*paid(P1), *refund(R1)[:2], refund(R1)[3]]),
            bad(7, "a refund entry has the id of the entry of a refund that SUCCEEDED"),
        ),
        "invalid-refund-entry-wrong-amount.jsonl": (
            relinked(export([*paid(P1), *refund(R1)]), lambda line: line.replace(b"800]", b"700]"), 8),
            bad(8, "a refund entry posts four lines of the refund's 800 INR"),
        ),
        "invalid-reversal-ignores-refunds.jsonl": (
            export([*paid(P1), *refund(R1), left_reversal(2800)]),
            bad(9, "refunded in part, moves what is left: 2000"),
        ),
        "valid-empty-chain.jsonl": (export([]), ok),
        "valid-one-payment.jsonl": (export(paid(P1)), ok),
        "valid-reversal-correction-collect.jsonl": (good, ok),
        "valid-signed-checkpoint.jsonl": (
            export(full(), checkpoints=(4, 9), signed=True),
            {"ok": True, **key_args},
        ),
        "invalid-restart-after-failed.jsonl": (
            export(failed_then_again),
            bad(4, "a history row after the payment's final status"),
        ),
        "invalid-completed-twice.jsonl": (export(twice), bad(5, "a history row after the payment's final status")),
        "invalid-completed-without-entry.jsonl": (
            export(paid(P1)[:3]),
            bad(0, "COMPLETED at seq 3, but its payment entry"),
        ),
        "invalid-wrong-payment-entry-id.jsonl": (
            relinked(
                export(paid(P1)),
                lambda line: line.replace(str(payment_entry_id(P1)).encode(), str(uuid.UUID(int=7)).encode()),
                4,
            ),
            bad(4, "the payment entry of payment"),
        ),
        "invalid-pay-declined.jsonl": (
            export([row(P1, 0, None, "QUEUED"), row(P1, 1, "QUEUED", "DECLINED")]),
            bad(2, "illegal transition QUEUED -> DECLINED for a PAY payment"),
        ),
        "invalid-collect-action-required.jsonl": (
            export(
                [
                    row(P1, 0, None, "REQUESTED", "COLLECT"),
                    row(P1, 1, "REQUESTED", "PROCESSING", "COLLECT"),
                    row(P1, 2, "PROCESSING", "ACTION_REQUIRED", "COLLECT"),
                ]
            ),
            bad(3, "illegal transition PROCESSING -> ACTION_REQUIRED for a COLLECT payment"),
        ),
        "invalid-currency-xyz.jsonl": (
            export([row(P1, 0, None, "QUEUED", currency="XYZ")]),
            bad(1, "XYZ is not an ISO 4217 currency"),
        ),
        "invalid-amount-too-big.jsonl": (
            export([row(P1, 0, None, "QUEUED", amount=10**15)]),
            bad(1, "the amount is not an integer"),
        ),
        "invalid-escaped-letter.jsonl": (
            relinked(export(paid(P1)), lambda line: line.replace(b'"r"]', b'"\\u0072"]'), 1),
            bad(1, "the record's bytes are not its canonical encoding"),
        ),
        "invalid-escaped-slash.jsonl": (
            relinked(export(paid(P1)), lambda line: line.replace(b'"completed"]', b'"completed\\/"]'), 4),
            bad(4, "the record's bytes are not its canonical encoding"),
        ),
        "invalid-minus-zero.jsonl": (
            relinked(export(paid(P1)), lambda line: line.replace(b'",0,null,', b'",-0,null,'), 1),
            bad(1, "the record's bytes are not its canonical encoding"),
        ),
        "invalid-lower-case-percent.jsonl": (
            relinked(export(paid(P1)), lambda line: line.replace(b'"upi:vpa:bob@upi"', b'"upi:vpa:b%c3%b6b@upi"'), 4),
            bad(4, "is not an account name in its canonical spelling"),
        ),
        "invalid-upper-case-uuid.jsonl": (
            relinked(export(paid(P1))[:2] + export(paid(P1))[-1:], lambda line: line.replace(b"-4000-", b"-4A00-"), 1),
            bad(1, "is not a lower-case hyphenated UUID"),
        ),
        "invalid-crlf.jsonl": (
            [*good[:2], good[2][:-1] + b"\r\n", *good[3:]],
            bad(2, "a line is not in its one exact encoding"),
        ),
        "invalid-reordered-keys.jsonl": (
            [good[0], good[1], b'{"record":' + good[2][84:-2] + b',"hash":' + good[2][8:74] + b"}\n", *good[3:]],
            bad(2, "a hash line has exactly the keys hash,record, in that order"),
        ),
        "invalid-no-final-newline.jsonl": (
            [*good[:-1], good[-1][:-1]],
            bad(9, "a line is not in its one exact encoding"),
        ),
        "invalid-hash-mismatch.jsonl": (
            [*good[:2], good[2].replace(b'"PROCESSING",1', b'"PROCESSING",2'), *good[3:]],
            bad(2, "hash mismatch"),
        ),
        "invalid-gap.jsonl": ([*good[:2], *good[3:]], bad(2, "sequence gap: seq 2 missing")),
        "invalid-truncated.jsonl": (good[:-1], bad(0, "the export has no end line: it is truncated")),
        "invalid-checkpoint-key-without-signature.jsonl": (
            [*good[:5], good[5].replace(b'"key":null', b'"key":"' + PUBLIC.hex().encode() + b'"'), *good[6:]],
            bad(4, "has a key without a signature"),
        ),
    }


def write(folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    expected: dict[str, object] = {}
    for name, (lines, verdict) in vectors().items():
        (folder / name).write_bytes(b"".join(lines))
        expected[name] = verdict
    (folder / "expected.json").write_text(json.dumps(expected, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    (folder / "README.md").write_text(README, encoding="utf-8")


README = """# Ledger conformance vectors

Small exports in the format of [docs/ledger.md](../ledger.md), valid and invalid, for testing any
implementation of the verifier. `expected.json` gives, for each file, the verdict (`ok`), and for an
invalid one the `seq` of the first problem (0: the export as a whole) and a phrase its message
contains (the reference verifier's wording; another implementation need only agree on the verdict
and the `seq`). `args` are the command-line arguments to verify with (the public key that signed
the checkpoints of the files that have signed ones). Files are format version 2 (chained
checkpoints) except `valid-version-1-signed-checkpoint.jsonl`, which every verifier still accepts.

Written by `scripts/ledger_vectors.py` (deterministic); `tests/unit/test_ledger_vectors.py` checks
that these files are exactly what it writes and that `python -m flosspay.ledger_verify` gives each
its expected verdict, with one process and with two.
"""


if __name__ == "__main__":
    write(Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).resolve().parents[1] / "docs" / "ledger-vectors")
