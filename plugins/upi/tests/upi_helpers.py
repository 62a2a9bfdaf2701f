"""Helpers shared by the UPI tests (a uniquely named module: test folders here are not packages)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import httpx

from flosspay.railapi import Flow, Money, RailRequest

SLOW_SECONDS = 1.0  # how long the test sandbox's slow payer takes to answer
APPROVE_SECONDS = 0.2  # how long its collect payers take to approve or decline


def upi_request(
    payer: str,
    *,
    flow: Flow = Flow.PAY,
    minor: int = 2800,
    payee: str = "merchant@okaxis",
    expires_at: datetime | None = None,
    reference: str | None = None,
) -> RailRequest:
    """A request as the worker builds it: a fresh payment id as the reference."""
    return RailRequest(
        reference=reference or str(uuid.uuid4()),
        flow=flow,
        amount=Money(minor, "INR"),
        details={"senderUpi": payer, "receiverUpi": payee},
        expires_at=expires_at,
    )


def debits_of(psp_url: str, reference: str) -> list[dict[str, Any]]:
    """The sandbox's record of debits for one reference, read over HTTP as an outside observer would."""
    response = httpx.get(f"{psp_url}/v1/debits", params={"reference": reference}, timeout=5)
    response.raise_for_status()
    rows: list[dict[str, Any]] = response.json()["debits"]
    return rows
