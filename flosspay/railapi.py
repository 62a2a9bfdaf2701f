"""FlossPay's public rail API: the only module a rail distribution needs to import from FlossPay.

Everything a rail author needs is re-exported here; names here follow semantic versioning. The
toolkit of ``flosspay.railkit`` (``PspTransport``, ``SandboxServer``, ``SettingsReader``...) is
re-exported too, but loaded only when first used, so that loading a plugin (which imports this
module for ``hookimpl``) stays cheap: the toolkit brings urllib3 and http.server with it.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any, Protocol

from flosspay.domain.errors import FieldError, ServiceUnavailable, ValidationFailed
from flosspay.domain.ledger import rail_account
from flosspay.domain.money import CURRENCY_EXPONENTS, Money
from flosspay.domain.payment import Flow
from flosspay.domain.rail import (
    NextAction,
    Outcome,
    PreparedPayment,
    Rail,
    RailRequest,
    RailResult,
    RailSettings,
    RefundResult,
)
from flosspay.hookspecs import hookimpl

if TYPE_CHECKING:
    from flosspay.railkit import (
        MAX_REFERENCE_LENGTH,
        CliOption,
        NoAnswer,
        PspAnswer,
        PspAnswers,
        PspTransport,
        RailSettingsError,
        Reply,
        SandboxRequest,
        SandboxServer,
        SettingsReader,
        as_refund,
        http_failure,
        never_raises,
        next_action,
        reference_refusal,
        refund_refusal,
        run_cli,
    )


class Sandbox(Protocol):
    """A PSP simulator a rail ships for development and tests (``flosspay.railkit.SandboxServer`` is one)."""

    def start(self, host: str, port: int) -> str:
        """Start serving (in a background thread) and return the base URL."""
        ...

    def stop(self) -> None: ...


def __getattr__(name: str) -> Any:
    """The toolkit's names, imported on first use (PEP 562)."""
    railkit = importlib.import_module("flosspay.railkit")
    if name in railkit.__all__:
        return getattr(railkit, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "CURRENCY_EXPONENTS",
    "MAX_REFERENCE_LENGTH",
    "CliOption",
    "FieldError",
    "Flow",
    "Money",
    "NextAction",
    "NoAnswer",
    "Outcome",
    "PreparedPayment",
    "PspAnswer",
    "PspAnswers",
    "PspTransport",
    "Rail",
    "RailRequest",
    "RailResult",
    "RailSettings",
    "RailSettingsError",
    "RefundResult",
    "Reply",
    "Sandbox",
    "SandboxRequest",
    "SandboxServer",
    "ServiceUnavailable",
    "SettingsReader",
    "ValidationFailed",
    "as_refund",
    "hookimpl",
    "http_failure",
    "never_raises",
    "next_action",
    "rail_account",
    "reference_refusal",
    "refund_refusal",
    "run_cli",
]
