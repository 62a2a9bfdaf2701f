"""NPCI response codes the rail understands, and what each means for FlossPay.

One table, shared by the rail (to map answers) and the sandbox (to give them), so the two cannot
drift apart. Unknown codes are treated as UNCERTAIN: money may have moved, so only a status query
may settle them.
"""

from __future__ import annotations

from flosspay.railapi import Flow, Outcome

SUCCESS = "00"
PENDING = "01"
INSUFFICIENT_FUNDS = "Z9"
DEBIT_FAILED = "U30"
INVALID_MPIN = "ZM"
RISK_THRESHOLD = "U16"
DECLINED_BY_PAYER = "ZA"
COLLECT_EXPIRED = "U69"
PSP_TIMEOUT = "UP"
DEEMED = "RB"
DUPLICATE_REQUEST = "U01"
AMOUNT_CAP_EXCEEDED = "U02"
REQUEST_NOT_FOUND = "U04"
ILLEGAL_OPERATION = "U10"
VALIDATION_ERROR = "U07"

REASONS: dict[str, str] = {
    SUCCESS: "approved",
    PENDING: "waiting for the payer to approve",
    INSUFFICIENT_FUNDS: "insufficient funds in the payer's account",
    DEBIT_FAILED: "debit failed at the payer's bank",
    INVALID_MPIN: "invalid UPI PIN",
    RISK_THRESHOLD: "risk threshold exceeded",
    DECLINED_BY_PAYER: "declined by the payer",
    COLLECT_EXPIRED: "collect request expired",
    PSP_TIMEOUT: "PSP timed out before debiting; nothing was debited",
    DEEMED: "deemed: the debit may have happened; check the status later",
    DUPLICATE_REQUEST: "the reference was already used for a different request",
    AMOUNT_CAP_EXCEEDED: "refunds would exceed the amount debited",
    REQUEST_NOT_FOUND: "no such payment",
    ILLEGAL_OPERATION: "nothing was debited for this payment",
    VALIDATION_ERROR: "the PSP found the request malformed",
}

_FINAL_DECLINES = frozenset({INSUFFICIENT_FUNDS, DEBIT_FAILED, INVALID_MPIN, RISK_THRESHOLD, DUPLICATE_REQUEST})


def payment_outcome(code: str, flow: Flow) -> Outcome:
    """What an NPCI code on a payment (execute or status) means for FlossPay."""
    if code == SUCCESS:
        return Outcome.COMPLETED
    if code == PENDING:
        return Outcome.PENDING
    if code in _FINAL_DECLINES:
        return Outcome.DECLINED
    if code == DECLINED_BY_PAYER:
        return Outcome.PAYER_DECLINED if flow is Flow.COLLECT else Outcome.DECLINED
    if code == COLLECT_EXPIRED:
        return Outcome.EXPIRED
    if code == PSP_TIMEOUT:
        return Outcome.TRANSIENT
    return Outcome.UNCERTAIN  # DEEMED and anything unknown: only a later status query can tell


def refund_outcome(code: str) -> Outcome:
    """A refund either went through (``00``), is unsettled (deemed/timeout), or was refused."""
    if code == SUCCESS:
        return Outcome.COMPLETED
    if code == PSP_TIMEOUT:
        return Outcome.TRANSIENT
    if code == DEEMED:
        return Outcome.UNCERTAIN
    if code == REQUEST_NOT_FOUND:
        return Outcome.NOT_FOUND
    return Outcome.DECLINED


def reason(code: str) -> str:
    return REASONS.get(code, f"PSP answered code {code}")
