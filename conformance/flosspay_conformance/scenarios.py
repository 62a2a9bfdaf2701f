"""The rail-specific data the suite needs, supplied by the rail author as a ``RailScenarios`` subclass.

The suite knows FlossPay's contract but not the rail's request fields or its sandbox's test data.
Each scenario method returns the raw request fields as an API client would send them (the same
JSON the rail's ``request_type`` decodes), for one behaviour of the rail's sandbox PSP. A method
left returning None tells the suite the sandbox cannot produce that behaviour; the tests needing it
are then skipped, naming the method.

``case`` is a short token unique to each test; use it where the sandbox keys state on the request
(a fresh wallet id or payer address per test keeps balances and ledgers apart), or ignore it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

from flosspay.railapi import Money, RailRequest

Fields = Mapping[str, Any]


@dataclass(frozen=True)
class InvalidInput:
    """A request the rail must refuse: its raw fields, and the field error expected among the errors.

    ``field`` is the name FlossPay shows the client (``card.number``); None accepts any field.
    ``amount`` replaces ``RailScenarios.amount`` (to check currency or limit rules).
    """

    fields: Fields
    field: str | None = None
    amount: Money | None = None
    why: str = ""


class RailScenarios:
    """Subclass and override ``valid`` and ``invalid`` at least; the rest unlock more of the suite."""

    amount: Money = Money(10_000, "INR")
    """The amount every scenario pays (the suite also refunds parts of it)."""

    timeout_seconds: float = 0.5
    """The rail timeout the suite configures; the sandbox's ``slow`` answer must take longer."""

    timeout_margin_seconds: float = 1.0
    """How much longer than ``timeout_seconds`` a call may take before the rail counts as ignoring it."""

    settle_seconds: float = 3.0
    """How long ``status`` may take to turn UNCERTAIN, PENDING or ACTION_REQUIRED into a final outcome."""

    api_key: str | None = None
    """A test API key: given to the rail and to its sandbox as ``api_key``, and checked never to show."""

    rail_options: Mapping[str, str] = MappingProxyType({})
    """Further settings of the rail (added to ``psp_url``, ``timeout_seconds`` and ``api_key``)."""

    sandbox_options: Mapping[str, str] = MappingProxyType({})
    """Settings of the sandbox besides ``api_key`` (e.g. short delays so the suite runs fast)."""

    def settings(self, psp_url: str, timeout_seconds: float) -> dict[str, str]:
        """The rail's settings (``flosspay_rail(settings)``) pointing at ``psp_url`` with that timeout."""
        settings = {"psp_url": psp_url, "timeout_seconds": f"{timeout_seconds:g}", **self.rail_options}
        if self.api_key is not None:
            settings["api_key"] = self.api_key
        return settings

    def sandbox_settings(self) -> dict[str, str]:
        """The settings given to ``flosspay_sandbox``: ``api_key`` and ``sandbox_options``."""
        settings = dict(self.sandbox_options)
        if self.api_key is not None:
            settings["api_key"] = self.api_key
        return settings

    def valid(self, case: str) -> Fields:
        """A request the sandbox completes at once (execute answers COMPLETED)."""
        raise NotImplementedError(f"{type(self).__name__}.valid(case) must return a request the sandbox completes")

    largest_amount: Money | None = None
    """The largest amount the rail accepts (and its sandbox completes); None: ``amount``."""

    def largest(self, case: str) -> Fields | None:
        """The rail's largest valid request: every field at the longest ``prepare`` accepts, completed at once.

        FlossPay must be able to store and record it (``test_recording``). Default: ``valid``; override
        it whenever the rail accepts longer values than ``valid`` uses.
        """
        return self.valid(case)

    def invalid(self) -> Sequence[InvalidInput]:
        """Requests ``prepare`` must refuse with ``ValidationFailed`` (at least one)."""
        raise NotImplementedError(f"{type(self).__name__}.invalid() must return requests the rail refuses")

    def declined(self, case: str) -> Fields | None:
        """A request the PSP refuses for good (execute answers DECLINED with a code)."""
        return None

    def transient(self, case: str) -> Fields | None:
        """A request the PSP cannot handle right now and does not record (execute answers TRANSIENT)."""
        return None

    def uncertain(self, case: str) -> Fields | None:
        """A request the PSP answers inconclusively (execute: UNCERTAIN); ``status`` settles it later."""
        return None

    def slow(self, case: str) -> Fields | None:
        """A request the PSP completes but answers later than ``timeout_seconds`` (execute: UNCERTAIN)."""
        return None

    def action_required(self, case: str) -> Fields | None:
        """A request needing the customer (3-D Secure): execute ACTION_REQUIRED, status COMPLETED later."""
        return None

    def collect(self, case: str) -> Fields | None:
        """A COLLECT request the sandbox's payer approves within ``settle_seconds`` (default: ``valid``)."""
        return self.valid(case)

    def secrets(self, fields: Fields) -> Iterable[str]:
        """Values that must never show in a log, repr, exception, result or stored detail.

        Secret settings (API keys) and secret fields of ``fields`` (a PAN, a CVV). Values shorter than
        six characters (a CVV) are only looked for where they could not match by chance: exact stored
        values and quoted in reprs. Default: ``api_key``, when set.
        """
        return () if self.api_key is None else (self.api_key,)

    def charged_minor(self, psp_url: str, request: RailRequest) -> int | None:
        """Minor units the sandbox has taken from this request's payer so far (refunds not deducted).

        Lets the suite see a double charge that the rail's own answers would hide. None: the
        sandbox offers no such view, and the checks that need it are skipped.
        """
        return None
