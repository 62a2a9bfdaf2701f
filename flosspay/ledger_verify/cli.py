"""``python -m flosspay.ledger_verify EXPORT.jsonl``: the command line (exit 0 valid, 1 not, 2 bad usage)."""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TextIO

from flosspay.ledger_verify.files import (
    UsageError,
    parse_expected_head,
    parse_public_key,
    read_signed_head,
    verify_file,
)
from flosspay.ledger_verify.report import describe
from flosspay.ledger_verify.state import MEMORY_ITEMS


def progress_printer(out: TextIO, every_seconds: float = 2.0) -> Callable[[int], None]:
    """Report progress on ``out`` at most every ``every_seconds`` (long runs only)."""
    started = time.monotonic()
    last = [started]

    def report(records: int) -> None:
        now = time.monotonic()
        if now - last[0] >= every_seconds:
            last[0] = now
            rate = records / max(now - started, 1e-9)
            print(f"... {records:,} records verified ({rate:,.0f}/s)", file=out, flush=True)

    return report


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--public-key",
        action="append",
        default=[],
        metavar="HEX|@FILE",
        help="the operator's published Ed25519 public key; every checkpoint must then be signed by it",
    )
    parser.add_argument(
        "--expect",
        action="append",
        default=[],
        metavar="SEQ:HASH",
        help="a head the operator published earlier: the chain must have HASH at SEQ",
    )
    parser.add_argument(
        "--head",
        action="append",
        default=[],
        metavar="FILE",
        help="a signed head (`flosspay ledger head --signed`): the export must extend it",
    )
    parser.add_argument(
        "--from",
        dest="start",
        metavar="FILE",
        help="the signed head (with its state digest) a partial export (`export --since SEQ`) starts after",
    )
    parser.add_argument(
        "--memory-items",
        type=int,
        default=MEMORY_ITEMS,
        metavar="N",
        help="ended payments and entries held in memory before they move to a temporary file (bounds memory)",
    )
    parser.add_argument("--quiet", action="store_true", help="no progress lines, only the verdict")
    parser.add_argument(
        "--jobs",
        type=int,
        choices=[1, 2],
        help="processes for a file (default: 2 for files over 8 MiB on a machine with 2+ cores)",
    )


def run(path: Path, args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    """Verify, print the verdict on ``out``; returns the exit status."""
    keys = [parse_public_key(k) for k in args.public_key]
    expected = dict(parse_expected_head(e) for e in args.expect)
    states: dict[int, bytes] = {}
    for text in args.head:
        seq, digest, state = read_signed_head(text, keys)
        expected[seq] = digest
        if state is not None:
            states[seq] = state
    start = None
    if getattr(args, "start", None):
        seq, digest, state = read_signed_head(args.start, keys)
        if state is None:
            raise UsageError(f"{args.start} names no state digest: --from needs a head from `ledger head --signed`")
        start = (seq, digest, state)
    report = verify_file(
        path,
        trusted_keys=keys,
        expected_heads=expected,
        progress=None if args.quiet else progress_printer(err),
        jobs=args.jobs,
        start=start,
        expected_states=states,
        memory_items=max(1, getattr(args, "memory_items", MEMORY_ITEMS)),
    )
    print(describe(report), file=out)
    return 0 if report.ok else 1


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m flosspay.ledger_verify",
        description="Verify a FlossPay ledger export (JSON Lines) with nothing but Python.",
    )
    parser.add_argument("file", type=Path, help="the export, as written by `flosspay ledger export` ('-': stdin)")
    add_arguments(parser)
    args = parser.parse_args(argv)
    try:
        return run(args.file, args, sys.stdout, sys.stderr)
    except UsageError as exc:
        print(f"ledger_verify: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
