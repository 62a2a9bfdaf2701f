"""Verify a FlossPay ledger export offline: ``python -m flosspay.ledger_verify EXPORT.jsonl``.

Needs no database, no configuration and no server, and nothing outside the Python standard
library: this package imports only ``flosspay.domain.chain`` (the format's encoding and state
machines), which is stdlib-only too. ``cryptography``, when installed, checks checkpoint
signatures faster; without it a pure-Python Ed25519 check (RFC 8032) is used. See docs/ledger.md.
The live check (``flosspay ledger verify``) runs this same verifier on the lines it would export.

One module per job: ``values`` (exact field formats), ``format`` (the export's lines), ``rules``
(the ledger rules, general path), ``fast`` (the fast path), ``state``/``verifier`` (the verifier
they make up), ``report``, ``signatures`` (Ed25519), ``files`` (files, keys, heads), ``cli``.

Exit status: 0 the export verifies, 1 it does not (the first bad record is named), 2 bad usage.
"""

from __future__ import annotations

from flosspay.ledger_verify.cli import add_arguments, main, progress_printer, run
from flosspay.ledger_verify.files import (
    PARALLEL_MIN_BYTES,
    UsageError,
    _verify_half,
    parse_expected_head,
    parse_public_key,
    parse_signed_head,
    read_signed_head,
    verify_file,
)
from flosspay.ledger_verify.report import Problem, Report, describe, merge_reports
from flosspay.ledger_verify.signatures import ed25519_verify, signature_check
from flosspay.ledger_verify.values import SignatureCheck
from flosspay.ledger_verify.verifier import ChainVerifier, verify_lines

__all__ = [
    "PARALLEL_MIN_BYTES",
    "ChainVerifier",
    "Problem",
    "Report",
    "SignatureCheck",
    "UsageError",
    "_verify_half",
    "add_arguments",
    "describe",
    "ed25519_verify",
    "main",
    "merge_reports",
    "parse_expected_head",
    "parse_public_key",
    "parse_signed_head",
    "progress_printer",
    "read_signed_head",
    "run",
    "signature_check",
    "verify_file",
    "verify_lines",
]
