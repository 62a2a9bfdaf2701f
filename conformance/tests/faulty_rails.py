"""Deliberately broken rails: each breaks one rule of the Rail contract, to show the suite catches it.

All are the documented minimal rail (docs/examples/minimal_rail) with a card number added to the
request (so leaks of a PAN can be shown) and one fault each. ``FaultyRail`` itself has no fault:
it is the control that passes.
"""

from __future__ import annotations

import contextlib
import logging
import types
import uuid
from collections.abc import Iterable, Mapping
from typing import Any, ClassVar

import httpx
import msgspec
from flosspay_conformance import InvalidInput, RailRequirements, RailScenarios
from flosspay_minimal_rail.rail import MinimalFields, MinimalRail
from flosspay_minimal_rail.sandbox import MinimalSandbox

from flosspay.railapi import (
    FieldError,
    Flow,
    Money,
    Outcome,
    PreparedPayment,
    PspAnswer,
    RailRequest,
    RailResult,
    RefundResult,
    ValidationFailed,
    hookimpl,
)

log = logging.getLogger("faulty_rails")

API_KEY = "sk-faulty-conformance-7a8b9c0d1e"
PAN = "4111111111111111"


class FaultyFields(msgspec.Struct, rename="camel", forbid_unknown_fields=True, frozen=True):
    account: str
    card_number: str

    def __repr__(self) -> str:
        return f"FaultyFields(account={self.account!r}, cardNumber='****')"

    def __rich_repr__(self) -> Iterable[tuple[str, Any]]:
        yield "account", self.account
        yield "cardNumber", "****"


class LeakyFields(msgspec.Struct, rename="camel", forbid_unknown_fields=True, frozen=True):
    """The same fields with msgspec's default repr: the card number in full."""

    account: str
    card_number: str


class FaultyRail(MinimalRail):
    """The control: the minimal rail plus a card number that is checked and then dropped."""

    name: ClassVar[str] = "faulty_ok"
    request_type: ClassVar[type[msgspec.Struct]] = FaultyFields

    def prepare(self, fields: msgspec.Struct, amount: Money, flow: Flow) -> PreparedPayment:
        number: str = getattr(fields, "card_number", "")
        if not (number.isdigit() and 12 <= len(number) <= 19):
            raise ValidationFailed([self.number_error(number)])
        prepared = super().prepare(MinimalFields(getattr(fields, "account", "")), amount, flow)
        return PreparedPayment({**prepared.details, **self.stored_card(number)}, prepared.public)

    def number_error(self, number: str) -> FieldError:
        return FieldError("cardNumber", "must be 12-19 digits")

    def stored_card(self, number: str) -> dict[str, str]:
        return {"last4": number[-4:]}


class DoubleCharge(FaultyRail):
    """Sends a fresh PSP reference on every call, so a retry pays again."""

    name = "faulty_double_charge"

    def execute(self, request: RailRequest) -> RailResult:
        return super().execute(msgspec.structs.replace(request, reference=f"{request.reference}-{uuid.uuid4().hex}"))


class LeakyRepr(FaultyRail):
    """Its request type's repr shows the card number."""

    name = "faulty_leaky_repr"
    request_type = LeakyFields


class LeakyLog(FaultyRail):
    """Logs the whole request at DEBUG."""

    name = "faulty_leaky_log"

    def prepare(self, fields: msgspec.Struct, amount: Money, flow: Flow) -> PreparedPayment:
        log.debug("preparing %s", msgspec.structs.asdict(fields))
        return super().prepare(fields, amount, flow)


class LeakyError(FaultyRail):
    """Echoes the rejected card number in its error message."""

    name = "faulty_leaky_error"

    def number_error(self, number: str) -> FieldError:
        return FieldError("cardNumber", f"{number} is not a card number")


class StoresPan(FaultyRail):
    """Keeps the card number in the stored details."""

    name = "faulty_stores_pan"

    def stored_card(self, number: str) -> dict[str, str]:
        return {"card_number": number}


class _RaisingTransport:
    """Calls the PSP with bare httpx: a timeout or a refused connection escapes as an exception."""

    def __init__(self, psp_url: str, api_key: str, timeout_seconds: float) -> None:
        self.base_url, self._api_key, self._timeout = psp_url, api_key, timeout_seconds

    def request(self, method: str, path: str, body: dict[str, Any] | None = None) -> PspAnswer:
        headers = {"Authorization": f"Bearer {self._api_key}"}
        answer = httpx.request(method, self.base_url + path, json=body, headers=headers, timeout=self._timeout)
        return PspAnswer(answer.status_code, answer.json() if answer.content else {})

    def close(self) -> None:
        pass


class RaisesOnTimeout(FaultyRail):
    """Lets transport exceptions escape instead of answering TRANSIENT/UNCERTAIN."""

    name = "faulty_raises_on_timeout"

    def __init__(self, psp_url: str, api_key: str, timeout_seconds: float) -> None:
        super().__init__(psp_url, api_key, timeout_seconds)
        self._psp = _RaisingTransport(psp_url, api_key, timeout_seconds)  # type: ignore[assignment]


class IgnoresTimeout(FaultyRail):
    """Uses its own hard-coded timeout whatever the settings say."""

    name = "faulty_ignores_timeout"

    def __init__(self, psp_url: str, api_key: str, timeout_seconds: float) -> None:
        super().__init__(psp_url, api_key, 1.8)


class OverRefund(FaultyRail):
    """Reports every refund the PSP answers as done, refused or not."""

    name = "faulty_over_refund"

    def refund(self, request: RailRequest, amount: Money, refund_reference: str) -> RefundResult:
        answer = super().refund(request, amount, refund_reference)
        return RefundResult(Outcome.COMPLETED) if answer.outcome is Outcome.DECLINED else answer


class StatusLies(FaultyRail):
    """Answers COMPLETED to every status query."""

    name = "faulty_status_lies"

    def status(self, request: RailRequest) -> RailResult:
        return RailResult(Outcome.COMPLETED, "OK")


class TransientAsDeclined(FaultyRail):
    """Turns a busy PSP (nothing done) into a final decline."""

    name = "faulty_transient_as_declined"

    def execute(self, request: RailRequest) -> RailResult:
        result = super().execute(request)
        return RailResult(Outcome.DECLINED, "BUSY") if result.outcome is Outcome.TRANSIENT else result


class LaxValidation(FaultyRail):
    """Accepts anything."""

    name = "faulty_lax_validation"

    def prepare(self, fields: msgspec.Struct, amount: Money, flow: Flow) -> PreparedPayment:
        account = getattr(fields, "account", "")
        return PreparedPayment({"account": account}, {"account": account})


class StringOutcome(FaultyRail):
    """Answers a plain string where an Outcome member is due."""

    name = "faulty_str_outcome"

    def execute(self, request: RailRequest) -> RailResult:
        result = super().execute(request)
        return RailResult(str(result.outcome.value), result.code)  # type: ignore[arg-type]


class ConnectsAtStartup(FaultyRail):
    """Checks the PSP while being built (``flosspay_rail`` must do no network I/O)."""

    name = "faulty_connects_at_startup"

    def __init__(self, psp_url: str, api_key: str, timeout_seconds: float) -> None:
        super().__init__(psp_url, api_key, timeout_seconds)
        with contextlib.suppress(httpx.HTTPError):
            httpx.get(f"{psp_url}/health", timeout=0.05)


class _Plugin:
    """One entry point object per faulty rail: pluggy finds the hooks on it."""

    def __init__(self, rail: type[FaultyRail]) -> None:
        self.rail = rail

    @hookimpl
    def flosspay_rail(self, settings: Mapping[str, str]) -> MinimalRail:
        return self.rail.from_settings(settings)  # an instance of the faulty subclass

    @hookimpl
    def flosspay_sandbox(self, settings: Mapping[str, str]) -> MinimalSandbox:
        return MinimalSandbox(settings)


RAILS: dict[str, type[FaultyRail]] = {
    rail.name: rail
    for rail in (
        FaultyRail,
        DoubleCharge,
        LeakyRepr,
        LeakyLog,
        LeakyError,
        StoresPan,
        RaisesOnTimeout,
        IgnoresTimeout,
        OverRefund,
        StatusLies,
        TransientAsDeclined,
        LaxValidation,
        StringOutcome,
        ConnectsAtStartup,
    )
}
plugins = types.SimpleNamespace(**{name: _Plugin(rail) for name, rail in RAILS.items()})
ENTRY_POINTS = {name: f"faulty_rails:plugins.{name}" for name in RAILS}
"""What a pip install would register: ``faulty_double_charge = faulty_rails:plugins.faulty_double_charge``..."""


class FaultyRequirements(RailRequirements):
    @property
    def refunds(self) -> bool:
        return True

    @property
    def partial_refunds(self) -> bool:
        return True


class FaultyScenarios(RailScenarios):
    amount = Money(2_500, "INR")
    timeout_seconds = 0.3
    timeout_margin_seconds = 0.5

    def settings(self, psp_url: str, timeout_seconds: float) -> dict[str, str]:
        return {"psp_url": psp_url, "timeout_seconds": str(timeout_seconds), "api_key": API_KEY}

    def sandbox_settings(self) -> dict[str, str]:
        return {"api_key": API_KEY, "sandbox_slow_seconds": "0.6"}

    def _fields(self, account: str) -> dict[str, str]:
        return {"account": account, "cardNumber": PAN}

    def valid(self, case: str) -> dict[str, str]:
        return self._fields(f"alice-{case}")

    def invalid(self) -> list[InvalidInput]:
        return [
            InvalidInput({"account": "alice", "cardNumber": "4111x1111111111112"}, field="cardNumber"),
            InvalidInput({"account": "Not Valid", "cardNumber": PAN}, field="account"),
        ]

    def declined(self, case: str) -> dict[str, str]:
        return self._fields(f"decline-{case}")

    def transient(self, case: str) -> dict[str, str]:
        return self._fields(f"busy-{case}")

    def uncertain(self, case: str) -> dict[str, str]:
        return self._fields(f"unsure-{case}")

    def slow(self, case: str) -> dict[str, str]:
        return self._fields(f"slow-{case}")

    def secrets(self, fields: Mapping[str, Any]) -> list[str]:
        return [API_KEY, str(fields.get("cardNumber", ""))]

    def charged_minor(self, psp_url: str, request: RailRequest) -> int:
        account = request.details["account"]
        answer = httpx.get(f"{psp_url}/accounts/{account}", headers={"Authorization": f"Bearer {API_KEY}"})
        return int(answer.json()["charged"])
