"""The sandbox bank gateway over HTTP: ``NetbankingSandbox`` in-process, ``python -m flosspay_netbanking.sandbox``.

Serves ``BankGateway``, on loopback by default. It never moves real money. Endpoints (the ``/v1``
ones need ``Authorization: Bearer <api key>``, the bank pages do not: a customer's browser opens them):

- ``POST /v1/payments``: ``{reference, bank, amountMinor, currency, returnUrl}``, once per reference;
  a waiting payment's answer carries ``redirectUrl``, the bank's page
- ``GET /v1/payments/{reference}``
- ``GET /v1/sandbox/payments/{reference}``: how much was taken (sandbox only, for tests)
- ``GET /bank/{session}``: the bank's page, Approve and Decline buttons
- ``POST /bank/{session}``: the customer's choice (form field ``decision``), then 303 to ``returnUrl``
  with ``reference`` and ``status`` added to its query
- ``GET /v1/health``
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import ClassVar

from flosspay_netbanking.gateway import BankGateway
from flosspay_netbanking.settings import SANDBOX_API_KEY, reader

from flosspay.railapi import CliOption, Reply, SandboxRequest, SandboxServer, run_cli

DEFAULT_SLOW_SECONDS = 5.0
DEFAULT_AUTO_SECONDS = 2.0
DEFAULT_EXPIRY_SECONDS = 300.0


class NetbankingSandbox(SandboxServer):
    """The sandbox as ``flosspay_sandbox`` returns it: ``start(host, port) -> base_url`` and ``stop()``.

    Settings (``FLOSSPAY_NETBANKING_<KEY>``): ``api_key`` (default the sandbox test key),
    ``sandbox_slow_seconds`` (default 5), ``sandbox_auto_seconds`` (default 2: when the XAUT test
    bank's customer approves), ``sandbox_expiry_seconds`` (default 300: when an unanswered bank page
    expires).
    """

    name: ClassVar[str] = "netbanking-sandbox"
    browser_prefixes: ClassVar[tuple[str, ...]] = ("/bank/",)

    def __init__(self, settings: Mapping[str, str] | None = None, *, verbose: bool = False) -> None:
        read = reader(settings or {})
        super().__init__(api_key=read.secret("api_key", default=SANDBOX_API_KEY), verbose=verbose)
        self.gateway = BankGateway(
            slow_seconds=read.seconds("sandbox_slow_seconds", DEFAULT_SLOW_SECONDS, allow_zero=True),
            auto_seconds=read.seconds("sandbox_auto_seconds", DEFAULT_AUTO_SECONDS, allow_zero=True),
            expiry_seconds=read.seconds("sandbox_expiry_seconds", DEFAULT_EXPIRY_SECONDS, maximum=86_400),
        )

    def start(self, host: str = "127.0.0.1", port: int = 0) -> str:
        url = super().start(host, port)
        self.gateway.page_base = url
        return url

    def route(self, request: SandboxRequest) -> Reply | None:
        gateway = self.gateway
        match request.method, request.parts:
            case "POST", ("v1", "payments"):
                return gateway.pay(request.body)
            case "GET", ("v1", "payments", reference):
                return gateway.lookup(reference)
            case "GET", ("v1", "sandbox", "payments", reference):
                return gateway.captured(reference)
            case "GET", ("bank", session):
                return gateway.page(session)
            case "POST", ("bank", session):
                return gateway.answer(session, request.body)
        return None


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m flosspay_netbanking.sandbox --port 8404``: print the base URL, serve until SIGTERM or SIGINT."""
    return run_cli(
        NetbankingSandbox,
        argv,
        rail="netbanking",
        prog="python -m flosspay_netbanking.sandbox",
        description="FlossPay's sandbox bank gateway for net banking (never moves real money).",
        default_port=8404,
        options=[
            CliOption("--api-key", "api_key", "the Bearer key callers must send"),
            CliOption("--auto-seconds", "sandbox_auto_seconds", "when the XAUT test bank's customer approves"),
            CliOption("--expiry-seconds", "sandbox_expiry_seconds", "when an unanswered bank page expires"),
        ],
    )


if __name__ == "__main__":
    raise SystemExit(main())
