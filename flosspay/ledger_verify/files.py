"""Reading what an auditor holds: export files (in one process or two), public keys, heads."""

from __future__ import annotations

import json
import multiprocessing
import os
import sys
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from flosspay.domain.chain import CHECKPOINT_TAG, HEAD_FORMAT, HEAD_TAG, canonical, parse_time
from flosspay.ledger_verify.report import Report, merge_reports
from flosspay.ledger_verify.signatures import signature_check
from flosspay.ledger_verify.state import MEMORY_ITEMS
from flosspay.ledger_verify.values import SignatureCheck
from flosspay.ledger_verify.verifier import ChainVerifier

PARALLEL_MIN_BYTES = 8 << 20
"""Files at least this big are verified by two processes: chain checks in one, ledger rules in the other."""


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
    seq, digest, _ = read_signed_head(text, trusted_keys, check)
    return seq, digest


def read_signed_head(
    text: str, trusted_keys: Sequence[bytes], check: SignatureCheck | None = None
) -> tuple[int, bytes, bytes | None]:
    """As ``parse_signed_head``, with the state digest the statement names (None if it names none)."""
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
        state: bytes | None = None
        if "state" in obj:
            state = bytes.fromhex(obj["state"])
            if len(state) != 32 or obj["state"] != state.hex():
                raise ValueError
            message = canonical([HEAD_TAG, seq, digest, at, obj["state"]])
        parse_time(at)
        if len(digest_bytes) != 32 or digest != digest_bytes.hex() or key != key_bytes.hex():
            raise ValueError
    except (ValueError, TypeError, KeyError, AttributeError):
        raise UsageError(f"{text} is not a head statement from `flosspay ledger head --signed`") from None
    if trusted_keys and key_bytes not in trusted_keys:
        raise UsageError(f"{text} is signed by key {key}, which is not one given with --public-key")
    if not (check or signature_check())(key_bytes, message, signature_bytes):
        raise UsageError(f"{text}: the signature does not verify: this head was not signed by key {key}")
    return seq, digest_bytes, state


def _verify_half(
    path: str,
    *,
    links: bool,
    rules: bool,
    trusted_keys: Sequence[bytes] = (),
    expected_heads: dict[int, bytes] | None = None,
    progress: Callable[[int], None] | None = None,
    start: tuple[int, bytes, bytes] | None = None,
    expected_states: dict[int, bytes] | None = None,
    memory_items: int = MEMORY_ITEMS,
) -> Report:
    verifier = ChainVerifier(
        memory_items=memory_items,
        check_signature=signature_check() if links else None,
        trusted_keys=trusted_keys if links else (),
        expected_heads=expected_heads if links else None,
        links=links,
        rules=rules,
        start=start,
        expected_states=expected_states,
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
    start: tuple[int, bytes, bytes] | None = None,
    expected_states: dict[int, bytes] | None = None,
    memory_items: int = MEMORY_ITEMS,
) -> Report:
    """Verify the export at ``path`` (``-`` reads standard input).

    ``jobs``: 2 splits the work over two processes (the chain in a child, the ledger rules here),
    1 keeps it in this one; by default, big files on machines with two cores or more are split.
    ``start``: the signed head ``(seq, hash, state digest)`` a partial export starts after;
    ``expected_states``: state digests of signed heads. Either keeps the work in one process.
    """
    name = str(path)
    if start is not None or expected_states:
        return _verify_half(
            name,
            links=True,
            rules=True,
            trusted_keys=tuple(trusted_keys),
            expected_heads=expected_heads,
            progress=progress,
            start=start,
            expected_states=expected_states,
            memory_items=memory_items,
        )
    if jobs is None:
        try:
            big = name != "-" and path.stat().st_size >= PARALLEL_MIN_BYTES
        except OSError as exc:
            raise UsageError(f"cannot read {path}: {exc.strerror}") from None
        jobs = 2 if big and (os.cpu_count() or 1) >= 2 else 1
    keys = tuple(trusted_keys)
    if jobs < 2 or name == "-":
        return _verify_half(
            name,
            links=True,
            rules=True,
            trusted_keys=keys,
            expected_heads=expected_heads,
            progress=progress,
            memory_items=memory_items,
        )
    methods = multiprocessing.get_all_start_methods()
    context = multiprocessing.get_context("fork" if "fork" in methods else "spawn")
    with ProcessPoolExecutor(1, mp_context=context) as pool:
        chain_half = pool.submit(
            _verify_half, name, links=True, rules=False, trusted_keys=keys, expected_heads=expected_heads
        )
        rules = _verify_half(name, links=False, rules=True, progress=progress, memory_items=memory_items)
        return merge_reports(chain_half.result(), rules)
