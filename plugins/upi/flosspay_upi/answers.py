"""What the UPI PSP's HTTP answers mean before their codes are read: its own rules on top of ``PspTransport``.

This PSP answers every result with an NPCI-style response code (``00``, ``Z9``, ``U04``...), and
documents an HTTP 5xx as "unavailable, nothing was debited" (TRANSIENT). A success without a well
formed code cannot be trusted either way (UNCERTAIN): only a status query can settle it.
"""

from __future__ import annotations

import re

import msgspec

from flosspay.railapi import NoAnswer, Outcome, PspAnswer

_CODE_PATTERN = re.compile(r"^[A-Z0-9]{2,4}$")
_MAX_PSP_REFERENCE_LENGTH = 64


class UpiAnswer(msgspec.Struct, frozen=True):
    """A usable answer of the PSP: its HTTP status, its response code and its own transaction reference."""

    http_status: int
    code: str | None = None
    psp_reference: str | None = None


def read_answer(answer: PspAnswer | NoAnswer) -> UpiAnswer | NoAnswer:
    """The answer's code and reference, or the outcome of an answer that cannot be used."""
    if isinstance(answer, NoAnswer):
        return answer
    status = answer.http_status
    if status >= 500:
        return NoAnswer(Outcome.TRANSIENT, f"HTTP_{status}", f"PSP unavailable (HTTP {status})")
    code = answer.body.get("code")
    if code is not None and (not isinstance(code, str) or not _CODE_PATTERN.fullmatch(code)):
        return NoAnswer(Outcome.UNCERTAIN, "BAD_RESPONSE", "PSP answered a malformed response code")
    if 200 <= status < 300 and code is None:
        return NoAnswer(Outcome.UNCERTAIN, "BAD_RESPONSE", f"PSP answered HTTP {status} without a response code")
    psp_reference = answer.text("pspReference")
    if psp_reference is not None and len(psp_reference) > _MAX_PSP_REFERENCE_LENGTH:
        psp_reference = None
    return UpiAnswer(status, code, psp_reference)
