"""The wallet sandbox over HTTP: ``WalletSandbox`` in-process, ``python -m flosspay_wallet.sandbox`` standalone.

Serves ``WalletProvider`` as JSON, on loopback by default. It never moves real money. Endpoints
(all but health need ``Authorization: Bearer <api key>``):

- ``POST /v1/debits``: ``{reference, provider, walletId, amountMinor, currency}``, exactly once per reference
- ``GET /v1/debits/{reference}``
- ``POST /v1/debits/{reference}/refunds``: ``{refundReference, amountMinor, currency}``
- ``GET /v1/sandbox/wallets/{provider}/{walletId}``: balance and totals (sandbox only, for tests)
- ``GET /v1/health``
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import ClassVar

from flosspay_wallet.provider import WalletProvider
from flosspay_wallet.settings import SANDBOX_API_KEY, reader

from flosspay.railapi import CliOption, Reply, SandboxRequest, SandboxServer, run_cli

DEFAULT_SLOW_SECONDS = 5.0


class WalletSandbox(SandboxServer):
    """The sandbox as ``flosspay_sandbox`` returns it: ``start(host, port) -> base_url`` and ``stop()``.

    Settings (``FLOSSPAY_WALLET_<KEY>``): ``api_key`` (default the sandbox test key),
    ``sandbox_slow_seconds`` (default 5).
    """

    name: ClassVar[str] = "wallet-sandbox"

    def __init__(self, settings: Mapping[str, str] | None = None, *, verbose: bool = False) -> None:
        read = reader(settings or {})
        super().__init__(api_key=read.secret("api_key", default=SANDBOX_API_KEY), verbose=verbose)
        self.provider = WalletProvider(
            slow_seconds=read.seconds("sandbox_slow_seconds", DEFAULT_SLOW_SECONDS, allow_zero=True)
        )

    def route(self, request: SandboxRequest) -> Reply | None:
        provider = self.provider
        match request.method, request.parts:
            case "GET", ("v1", "debits", reference):
                return provider.lookup(reference)
            case "GET", ("v1", "sandbox", "wallets", wallet_provider, wallet_id):
                return provider.wallet(wallet_provider, wallet_id)
            case "POST", ("v1", "debits"):
                return provider.debit(request.body)
            case "GET", ("v1", "refunds"):
                return provider.refunds(request.param("reference"))
            case "POST", ("v1", "debits", reference, "refunds"):
                return provider.refund(reference, request.body)
        return None


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m flosspay_wallet.sandbox --port 8403``: print the base URL, serve until SIGTERM or SIGINT."""
    return run_cli(
        WalletSandbox,
        argv,
        rail="wallet",
        prog="python -m flosspay_wallet.sandbox",
        description="FlossPay's wallet sandbox provider (never moves real money).",
        default_port=8403,
        options=[
            CliOption("--api-key", "api_key", "the Bearer key callers must send"),
            CliOption("--slow-seconds", "sandbox_slow_seconds", "answer delay of slow wallets"),
        ],
    )


if __name__ == "__main__":
    raise SystemExit(main())
