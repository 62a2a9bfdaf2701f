"""The sandbox PSP over HTTP: ``UpiSandbox`` for in-process use, ``python -m flosspay_upi.sandbox`` standalone.

It serves ``flosspay_upi.simulator.UpiNetwork`` as JSON. It never moves real money; it exists so
that FlossPay runs, and its tests prove exactly-once, without a bank.

Endpoints: ``POST /v1/payments``, ``GET /v1/payments/{reference}``, ``POST /v1/refunds``,
``GET /v1/debits[?reference=…]``, ``POST /v1/reset``, ``GET /v1/health``.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping, Sequence
from types import MappingProxyType
from typing import ClassVar

from flosspay.railapi import CliOption, Reply, SandboxRequest, SandboxServer, run_cli
from flosspay_upi import codes
from flosspay_upi.settings import reader
from flosspay_upi.simulator import UpiNetwork

DEFAULT_SLOW_SECONDS = 3.0
DEFAULT_COLLECT_APPROVE_SECONDS = 1.0


class UpiSandbox(SandboxServer):
    """The sandbox PSP in a background thread: ``start(host, port)`` → base URL, ``stop()``."""

    name: ClassVar[str] = "upi-sandbox"
    # Only malformed requests carry a code (NPCI's U07); other errors answer {"error": ...} alone.
    error_codes: ClassVar[Mapping[int, str]] = MappingProxyType({400: codes.VALIDATION_ERROR})

    def __init__(
        self,
        settings: Mapping[str, str] | None = None,
        *,
        network: UpiNetwork | None = None,
        verbose: bool = False,
    ) -> None:
        """``settings``: ``slow_seconds``, ``collect_approve_seconds`` and ``api_key`` (required of callers if set)."""
        read = reader(settings or {})
        super().__init__(api_key=read.secret("api_key"), verbose=verbose)
        self.network = network or UpiNetwork(
            slow_seconds=read.seconds("slow_seconds", DEFAULT_SLOW_SECONDS, allow_zero=True),
            collect_approve_seconds=read.seconds(
                "collect_approve_seconds", DEFAULT_COLLECT_APPROVE_SECONDS, allow_zero=True
            ),
        )

    def route(self, request: SandboxRequest) -> Reply | None:
        network = self.network
        match request.method, request.parts:
            case "GET", ("v1", "payments", reference) if reference:
                return network.lookup(reference)
            case "GET", ("v1", "debits"):
                return network.debits(request.param("reference"))
            case "GET", ("v1", "refunds"):
                return network.refunds(request.param("reference"))
            case "POST", ("v1", "payments"):
                return network.submit(request.body)
            case "POST", ("v1", "refunds"):
                return network.refund(request.body)
            case "POST", ("v1", "reset"):
                return network.reset()
        return None


def main(argv: Sequence[str] | None = None) -> int:
    """Run the sandbox until SIGTERM or SIGINT; prints the base URL on one line once it listens."""
    return run_cli(
        UpiSandbox,
        argv,
        rail="upi",
        prog="python -m flosspay_upi.sandbox",
        description="FlossPay's UPI sandbox PSP (never moves real money).",
        options=[
            CliOption("--slow-seconds", "slow_seconds", "how long 'slow*' payers take"),
            CliOption("--collect-approve-seconds", "collect_approve_seconds", "how long collect payers take to answer"),
        ],
    )


if __name__ == "__main__":
    sys.exit(main())
