"""Typed readers for a rail's settings (``FLOSSPAY_<RAIL>_<KEY>`` variables), with one-line errors.

Each problem is one line that names the variable, so the operator knows what to fix, and a secret's
value is never echoed in it.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import NoReturn, overload
from urllib.parse import urlsplit

from flosspay.domain.money import CURRENCY_EXPONENTS

MAX_SECONDS = 300.0


class RailSettingsError(ValueError):
    """A rail's settings cannot be used; the message is one line naming the variable.

    A ``ValueError``, so ``flosspay_rail`` raising it makes FlossPay report the rail as failed to load
    with this message. Subclass it to give a rail's errors their own name (``CardSettingsError``).
    """


class SettingsReader:
    """Reads one rail's settings: ``SettingsReader(settings, rail="card").seconds("timeout_seconds", 10.0)``.

    An empty value counts as unset. ``error`` is the exception class raised (a ``RailSettingsError``).
    """

    def __init__(
        self, settings: Mapping[str, str], *, rail: str, error: type[RailSettingsError] = RailSettingsError
    ) -> None:
        self._settings = settings
        self._prefix = f"FLOSSPAY_{rail.upper()}_"
        self._error = error

    def variable(self, key: str) -> str:
        """The environment variable a key comes from: ``timeout_seconds`` → ``FLOSSPAY_CARD_TIMEOUT_SECONDS``."""
        return f"{self._prefix}{key.upper()}"

    def raw(self, key: str) -> str | None:
        """The value as given, or None when unset or empty."""
        value = self._settings.get(key)
        return value if value else None

    def fail(self, key: str, problem: str) -> NoReturn:
        """Raise the reader's error: ``"<VARIABLE> <problem>"``."""
        raise self._error(f"{self.variable(key)} {problem}")

    def psp_url(self, key: str = "psp_url", *, what: str = "the PSP's base URL") -> str:
        """A required http(s) URL with a host and no credentials, query or fragment; no trailing slash."""
        value = self.raw(key)
        if value is None:
            self.fail(key, f"is required ({what})")
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            self.fail(key, "must be an http(s) URL with a host")
        if parts.username or parts.password or parts.query or parts.fragment:
            self.fail(key, "must not carry credentials, a query or a fragment")
        return value.rstrip("/")

    def seconds(self, key: str, default: float, *, allow_zero: bool = False, maximum: float = MAX_SECONDS) -> float:
        """A finite number of seconds, above 0 (or at least 0 when ``allow_zero``) and at most ``maximum``."""
        value = self.raw(key)
        if value is None:
            return default
        try:
            number = float(value)
        except ValueError:
            number = math.nan
        low_ok = number >= 0 if allow_zero else number > 0
        if not (math.isfinite(number) and low_ok and number <= maximum):
            lowest = "a number of seconds >= 0" if allow_zero else "a positive number of seconds"
            self.fail(key, f"must be {lowest}, at most {maximum:g}, got {value!r}")
        return number

    @overload
    def secret(self, key: str = "api_key", *, default: str) -> str: ...
    @overload
    def secret(self, key: str = "api_key", *, default: None = None) -> str | None: ...
    def secret(self, key: str = "api_key", *, default: str | None = None) -> str | None:
        """A credential: no surrounding spaces, no control characters; never echoed in the error."""
        value = self.raw(key)
        if value is None:
            return default
        if any(c.isspace() for c in value) or not value.isprintable():
            self.fail(key, "must not contain spaces or control characters")
        return value

    def currencies(self, key: str = "currencies", *, default: Iterable[str] = CURRENCY_EXPONENTS) -> frozenset[str]:
        """Comma-separated ISO 4217 codes FlossPay knows (``"inr, usd"`` → ``{"INR", "USD"}``)."""
        value = self.raw(key)
        if value is None or not value.strip():
            return frozenset(default)
        codes = {code.strip().upper() for code in value.split(",") if code.strip()}
        if not codes:
            self.fail(key, "must list at least one currency code, such as INR")
        unknown = sorted(codes - set(CURRENCY_EXPONENTS))
        if unknown:
            self.fail(key, f"lists unknown currencies {unknown}")
        return frozenset(codes)
