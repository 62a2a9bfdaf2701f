"""Verify a FlossPay ledger export offline: ``python -m flosspay.ledger_verify EXPORT.jsonl``.

Needs no database, no configuration and no server, and nothing outside the Python standard
library (it imports only ``flosspay.domain.chain`` and ``flosspay.domain.chain_verify``, which are
stdlib-only too). ``cryptography``, when installed, checks checkpoint signatures faster; without
it a pure-Python Ed25519 check (RFC 8032) is used. See docs/ledger.md for the format.

Exit status: 0 the export verifies, 1 it does not (the first bad record is named), 2 bad usage.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import multiprocessing
import os
import sys
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import TextIO

from flosspay.domain.chain import CHECKPOINT_TAG, HEAD_FORMAT, canonical, parse_time
from flosspay.domain.chain_verify import ChainVerifier, Report, SignatureCheck, describe, merge_reports

PARALLEL_MIN_BYTES = 8 << 20
"""Files at least this big are verified by two processes: chain checks in one, ledger rules in the other."""

# --- Ed25519 verification (RFC 8032, section 6), for when ``cryptography`` is not installed -------

_P = 2**255 - 19
_L = 2**252 + 27742317777372353535851937790883648493
_D = -121665 * pow(121666, _P - 2, _P) % _P
_SQRT_M1 = pow(2, (_P - 1) // 4, _P)
_Point = tuple[int, int, int, int]  # extended coordinates (X, Y, Z, T), x = X/Z, y = Y/Z, xy = T/Z


def _recover_x(y: int, sign: int) -> int | None:
    if y >= _P:
        return None
    x2 = (y * y - 1) * pow(_D * y * y + 1, _P - 2, _P) % _P
    if x2 == 0:
        return None if sign else 0
    x = pow(x2, (_P + 3) // 8, _P)
    if (x * x - x2) % _P:
        x = x * _SQRT_M1 % _P
    if (x * x - x2) % _P:
        return None
    if x & 1 != sign:
        x = _P - x
    return x


def _add(a: _Point, b: _Point) -> _Point:
    p = _P
    e1 = (a[1] - a[0]) * (b[1] - b[0]) % p
    e2 = (a[1] + a[0]) * (b[1] + b[0]) % p
    c = 2 * a[3] * b[3] * _D % p
    d = 2 * a[2] * b[2] % p
    e, f, g, h = e2 - e1, d - c, d + c, e2 + e1
    return (e * f % p, g * h % p, f * g % p, e * h % p)


def _multiply(scalar: int, point: _Point) -> _Point:
    result: _Point = (0, 1, 1, 0)
    while scalar:
        if scalar & 1:
            result = _add(result, point)
        point = _add(point, point)
        scalar >>= 1
    return result


def _same(a: _Point, b: _Point) -> bool:
    return (a[0] * b[2] - b[0] * a[2]) % _P == 0 and (a[1] * b[2] - b[1] * a[2]) % _P == 0


def _decompress(encoded: bytes) -> _Point | None:
    if len(encoded) != 32:
        return None
    y = int.from_bytes(encoded, "little")
    sign = y >> 255
    y &= (1 << 255) - 1
    x = _recover_x(y, sign)
    return None if x is None else (x, y, 1, x * y % _P)


_GY = 4 * pow(5, _P - 2, _P) % _P
_GX = _recover_x(_GY, 0)
assert _GX is not None
_BASE: _Point = (_GX, _GY, 1, _GX * _GY % _P)


def ed25519_verify(public_key: bytes, message: bytes, signature: bytes) -> bool:
    """RFC 8032 verification in pure Python (slow, a few milliseconds, but dependency-free)."""
    if len(public_key) != 32 or len(signature) != 64:
        return False
    a = _decompress(public_key)
    r = _decompress(signature[:32])
    s = int.from_bytes(signature[32:], "little")
    if a is None or r is None or s >= _L:
        return False
    h = int.from_bytes(hashlib.sha512(signature[:32] + public_key + message).digest(), "little") % _L
    return _same(_multiply(s, _BASE), _add(r, _multiply(h, a)))


def signature_check() -> SignatureCheck:
    """``cryptography``'s Ed25519 when it is installed, else the pure-Python one."""
    try:
        from cryptography.exceptions import InvalidSignature
        from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
    except ImportError:
        return ed25519_verify

    def check(public_key: bytes, message: bytes, signature: bytes) -> bool:
        try:
            Ed25519PublicKey.from_public_bytes(public_key).verify(signature, message)
        except (InvalidSignature, ValueError):
            return False
        return True

    return check


# --- the command -----------------------------------------------------------------------------------


class UsageError(Exception):
    """Bad arguments or an unreadable file: exit status 2, one line."""


def parse_public_key(text: str) -> bytes:
    """64 hex digits, or ``@FILE`` holding them (what ``flosspay ledger keygen`` prints)."""
    if text.startswith("@"):
        try:
            text = Path(text[1:]).read_text().strip()
        except OSError as exc:
            raise UsageError(f"cannot read public key file {text[1:]}: {exc.strerror}") from None
    try:
        key = bytes.fromhex(text)
    except ValueError:
        key = b""
    if len(key) != 32:
        raise UsageError("a public key is 64 hex digits (the raw Ed25519 key)")
    return key


def parse_expected_head(text: str) -> tuple[int, bytes]:
    """``SEQ:HASH`` as ``GET /api/v1/ledger/head`` shows them."""
    seq, _, digest = text.partition(":")
    try:
        number, value = int(seq), bytes.fromhex(digest)
    except ValueError:
        number, value = 0, b""
    if number < 1 or len(value) != 32:
        raise UsageError(f"--expect wants SEQ:HASH (a positive number, 64 hex digits), got {text!r}")
    return number, value


def parse_signed_head(
    text: str, trusted_keys: Sequence[bytes], check: SignatureCheck | None = None
) -> tuple[int, bytes]:
    """``--head FILE``: a statement from ``flosspay ledger head --signed``, its signature checked.

    The key it names must be one of ``trusted_keys`` when any are given (``--public-key``); the
    signature must verify in any case. Returns ``(seq, hash)`` for the chain to be held to.
    """
    try:
        raw = Path(text).read_bytes()
    except OSError as exc:
        raise UsageError(f"cannot read head file {text}: {exc.strerror}") from None
    try:
        obj = json.loads(raw)
        if ("publicKey" in obj) == ("key" in obj):
            raise ValueError  # one spelling of the key: ``publicKey``, or ``key`` as first written
        key = obj["publicKey"] if "publicKey" in obj else obj["key"]
        seq, digest, at, signature = (obj[k] for k in ("seq", "hash", "at", "signature"))
        if obj.get("format") != HEAD_FORMAT or type(seq) is not int or seq < 0:
            raise ValueError
        digest_bytes, key_bytes, signature_bytes = bytes.fromhex(digest), bytes.fromhex(key), bytes.fromhex(signature)
        message = canonical([CHECKPOINT_TAG, seq, digest, at])
        parse_time(at)
        if len(digest_bytes) != 32 or digest != digest_bytes.hex() or key != key_bytes.hex():
            raise ValueError
    except (ValueError, TypeError, KeyError, AttributeError):
        raise UsageError(f"{text} is not a head statement from `flosspay ledger head --signed`") from None
    if trusted_keys and key_bytes not in trusted_keys:
        raise UsageError(f"{text} is signed by key {key}, which is not one given with --public-key")
    if not (check or signature_check())(key_bytes, message, signature_bytes):
        raise UsageError(f"{text}: the signature does not verify: this head was not signed by key {key}")
    return seq, digest_bytes


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


def _verify_half(
    path: str,
    *,
    links: bool,
    rules: bool,
    trusted_keys: Sequence[bytes] = (),
    expected_heads: dict[int, bytes] | None = None,
    progress: Callable[[int], None] | None = None,
) -> Report:
    verifier = ChainVerifier(
        check_signature=signature_check() if links else None,
        trusted_keys=trusted_keys if links else (),
        expected_heads=expected_heads if links else None,
        links=links,
        rules=rules,
    )
    if path == "-":
        return verifier.verify(sys.stdin.buffer, progress)
    try:
        handle = open(path, "rb", buffering=1 << 20)  # noqa: SIM115 (closed below, after the long loop)
    except OSError as exc:
        raise UsageError(f"cannot read {path}: {exc.strerror}") from None
    with handle:
        return verifier.verify(handle, progress)


def verify_file(
    path: Path,
    *,
    trusted_keys: Sequence[bytes] = (),
    expected_heads: dict[int, bytes] | None = None,
    progress: Callable[[int], None] | None = None,
    jobs: int | None = None,
) -> Report:
    """Verify the export at ``path`` (``-`` reads standard input).

    ``jobs``: 2 splits the work over two processes (the chain in a child, the ledger rules here),
    1 keeps it in this one; by default, big files on machines with two cores or more are split.
    """
    name = str(path)
    if jobs is None:
        try:
            big = name != "-" and path.stat().st_size >= PARALLEL_MIN_BYTES
        except OSError as exc:
            raise UsageError(f"cannot read {path}: {exc.strerror}") from None
        jobs = 2 if big and (os.cpu_count() or 1) >= 2 else 1
    keys = tuple(trusted_keys)
    if jobs < 2 or name == "-":
        return _verify_half(
            name, links=True, rules=True, trusted_keys=keys, expected_heads=expected_heads, progress=progress
        )
    methods = multiprocessing.get_all_start_methods()
    context = multiprocessing.get_context("fork" if "fork" in methods else "spawn")
    with ProcessPoolExecutor(1, mp_context=context) as pool:
        chain_half = pool.submit(
            _verify_half, name, links=True, rules=False, trusted_keys=keys, expected_heads=expected_heads
        )
        rules = _verify_half(name, links=False, rules=True, progress=progress)
        return merge_reports(chain_half.result(), rules)


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
    expected.update(parse_signed_head(h, keys) for h in args.head)
    report = verify_file(
        path,
        trusted_keys=keys,
        expected_heads=expected,
        progress=None if args.quiet else progress_printer(err),
        jobs=args.jobs,
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


if __name__ == "__main__":
    sys.exit(main())
