"""The card sandbox PSP over HTTP: ``CardSandbox`` in-process, ``python -m flosspay_card.sandbox`` standalone.

Serves ``CardProcessor`` as JSON, on loopback by default. It never moves real money. Endpoints
(all but health need ``Authorization: Bearer <api key>``):

- ``POST /v1/tokens``: card → ``{token, scheme, last4}`` (the vault keeps the card; the CVV is dropped)
- ``POST /v1/charges``: ``{reference, token, amountMinor, currency}``, exactly once per reference
- ``GET /v1/charges/{reference}``
- ``POST /v1/charges/{reference}/refunds``: ``{refundReference, amountMinor, currency}``
- ``GET /v1/sandbox/tokens/{token}``: how much was charged on a token (sandbox only, for tests)
- ``GET /3ds/{charge id}``: the 3-D Secure challenge page a ``requires_action`` charge's
  ``nextAction`` redirects the cardholder to (no key: a browser opens it); its Approve and Fail
  buttons ``POST /3ds/{charge id}``. Unanswered, the challenge passes by itself after
  ``sandbox_three_ds_seconds``.
- ``GET /v1/health``
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from types import MappingProxyType
from typing import ClassVar

from flosspay_card.processor import CardProcessor
from flosspay_card.settings import SANDBOX_API_KEY, reader

from flosspay.railapi import CliOption, Reply, SandboxRequest, SandboxServer, run_cli

DEFAULT_THREE_DS_SECONDS = 2.0
DEFAULT_SLOW_SECONDS = 5.0


class CardSandbox(SandboxServer):
    """The sandbox as ``flosspay_sandbox`` returns it: ``start(host, port) -> base_url`` and ``stop()``.

    Settings (``FLOSSPAY_CARD_<KEY>``): ``api_key`` (default the sandbox test key),
    ``sandbox_three_ds_seconds`` (default 2), ``sandbox_slow_seconds`` (default 5).
    """

    name: ClassVar[str] = "card-sandbox"
    browser_prefixes: ClassVar[tuple[str, ...]] = ("/3ds/",)
    error_codes: ClassVar[Mapping[int, str]] = MappingProxyType(
        {
            400: "bad_request",
            401: "unauthorised",
            404: "no_route",
            411: "length_required",
            413: "too_large",
            500: "internal_error",
        }
    )

    def __init__(self, settings: Mapping[str, str] | None = None, *, verbose: bool = False) -> None:
        read = reader(settings or {})
        super().__init__(api_key=read.secret("api_key", default=SANDBOX_API_KEY), verbose=verbose)
        self.processor = CardProcessor(
            three_ds_seconds=read.seconds("sandbox_three_ds_seconds", DEFAULT_THREE_DS_SECONDS, allow_zero=True),
            slow_seconds=read.seconds("sandbox_slow_seconds", DEFAULT_SLOW_SECONDS, allow_zero=True),
        )

    def start(self, host: str = "127.0.0.1", port: int = 0) -> str:
        url = super().start(host, port)
        self.processor.page_base = url
        return url

    def route(self, request: SandboxRequest) -> Reply | None:
        processor = self.processor
        match request.method, request.parts:
            case "GET", ("3ds", charge_id):
                return processor.challenge_page(charge_id)
            case "POST", ("3ds", charge_id):
                return processor.challenge_answer(charge_id, request.body)
            case "GET", ("v1", "charges", reference):
                return processor.lookup(reference)
            case "GET", ("v1", "sandbox", "tokens", token):
                return processor.token_ledger(token)
            case "POST", ("v1", "tokens"):
                return processor.tokenise(request.body)
            case "POST", ("v1", "charges"):
                return processor.charge(request.body)
            case "GET", ("v1", "refunds"):
                return processor.refunds(request.param("reference"))
            case "POST", ("v1", "charges", reference, "refunds"):
                return processor.refund(reference, request.body)
        return None


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m flosspay_card.sandbox --port 8402``: print the base URL, serve until SIGTERM or SIGINT."""
    return run_cli(
        CardSandbox,
        argv,
        rail="card",
        prog="python -m flosspay_card.sandbox",
        description="FlossPay's card sandbox PSP (never moves real money).",
        default_port=8402,
        options=[
            CliOption("--api-key", "api_key", "the Bearer key callers must send"),
            CliOption("--three-ds-seconds", "sandbox_three_ds_seconds", "how long 3-D Secure cards wait"),
            CliOption("--slow-seconds", "sandbox_slow_seconds", "answer delay of the slow card"),
        ],
    )


if __name__ == "__main__":
    raise SystemExit(main())
