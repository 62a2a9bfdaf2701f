"""Drives a rail the way FlossPay does, failing the test with a clear message when the rail breaks a rule.

Every call goes through here, so the basic rules are checked on every test: a rail never raises
from ``execute``/``status``/``refund``, always returns a result of the right type, and its outcome
is a real ``Outcome`` member (FlossPay compares outcomes by identity).
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

import msgspec
import pytest

from flosspay.railapi import Flow, Money, Outcome, PreparedPayment, Rail, RailRequest, RailResult, RefundResult
from flosspay_conformance.scenarios import Fields, RailScenarios

FINAL = frozenset({Outcome.COMPLETED, Outcome.DECLINED, Outcome.PAYER_DECLINED, Outcome.EXPIRED})
UNSETTLED = frozenset({Outcome.UNCERTAIN, Outcome.PENDING, Outcome.ACTION_REQUIRED})
POLL_SECONDS = 0.05
COLLECT_EXPIRY = timedelta(minutes=10)

R = TypeVar("R", RailResult, RefundResult)


def new_case() -> str:
    """A token unique to one test, for scenarios that key sandbox state on the request."""
    return uuid.uuid4().hex[:10]


class RailDriver:
    """One rail (built against the sandbox), the author's scenarios, and the suite's checked calls."""

    def __init__(self, rail: Rail, scenarios: RailScenarios, psp_url: str) -> None:
        self.rail = rail
        self.scenarios = scenarios
        self.psp_url = psp_url

    # --- building requests --------------------------------------------------------------------

    def fields(self, scenario: str, case: str | None = None) -> Fields:
        """The raw fields of a scenario, skipping the test when the author's scenarios lack it."""
        method: Callable[[str], Fields | None] = getattr(self.scenarios, scenario)
        fields = method(case or new_case())
        if fields is None:
            pytest.skip(f"{type(self.scenarios).__name__}.{scenario}() returns None: the sandbox cannot simulate it")
        return fields

    def convert(self, fields: Fields) -> msgspec.Struct:
        """Decode raw fields into the rail's ``request_type``, as FlossPay's API does."""
        try:
            return msgspec.convert(dict(fields), self.rail.request_type)
        except msgspec.ValidationError as exc:
            pytest.fail(f"scenario fields do not decode as {self.rail.request_type.__name__}: {exc}", pytrace=False)

    def prepare(self, fields: Fields, amount: Money | None = None, flow: Flow = Flow.PAY) -> PreparedPayment:
        """``rail.prepare`` on fields that must be accepted."""
        struct = self.convert(fields)
        try:
            prepared = self.rail.prepare(struct, amount or self.scenarios.amount, flow)
        except Exception as exc:
            errors = getattr(exc, "errors", None)
            pytest.fail(f"prepare refused a scenario it must accept: {type(exc).__name__} {errors!r}", pytrace=False)
        if not isinstance(prepared, PreparedPayment):
            pytest.fail(f"prepare returned {type(prepared).__name__}, not a PreparedPayment", pytrace=False)
        return prepared

    def request(
        self,
        scenario: str = "valid",
        *,
        flow: Flow = Flow.PAY,
        amount: Money | None = None,
        case: str | None = None,
    ) -> RailRequest:
        """A fresh request (new reference) for a scenario, prepared by the rail."""
        amount = amount or self.scenarios.amount
        prepared = self.prepare(self.fields(scenario, case), amount, flow)
        return self.request_for(prepared, amount=amount, flow=flow)

    def request_for(
        self, prepared: PreparedPayment, *, amount: Money | None = None, flow: Flow = Flow.PAY
    ) -> RailRequest:
        """What FlossPay hands the rail for a stored payment: a new reference and the stored details."""
        stored = msgspec.json.decode(msgspec.json.encode(prepared.details))  # as it comes back from the database
        return RailRequest(
            reference=str(uuid.uuid4()),
            flow=flow,
            amount=amount or self.scenarios.amount,
            details=stored,
            expires_at=datetime.now(UTC) + COLLECT_EXPIRY if flow is Flow.COLLECT else None,
        )

    # --- calling the rail -----------------------------------------------------------------------

    def execute(self, request: RailRequest, rail: Rail | None = None) -> RailResult:
        return _checked("execute", (rail or self.rail).execute, (request,), RailResult)

    def status(self, request: RailRequest, rail: Rail | None = None) -> RailResult:
        return _checked("status", (rail or self.rail).status, (request,), RailResult)

    def refund(
        self, request: RailRequest, amount: Money, refund_reference: str, rail: Rail | None = None
    ) -> RefundResult:
        return _checked("refund", (rail or self.rail).refund, (request, amount, refund_reference), RefundResult)

    def settle(self, request: RailRequest) -> RailResult:
        """Ask ``status`` until the outcome is final, for at most ``settle_seconds``."""
        deadline = time.monotonic() + self.scenarios.settle_seconds
        result = self.status(request)
        while result.outcome in UNSETTLED and time.monotonic() < deadline:
            time.sleep(POLL_SECONDS)
            result = self.status(request)
        return result

    def charged(self, request: RailRequest) -> int:
        """Minor units the sandbox took from this payer; skips when the scenarios cannot tell."""
        charged = self.scenarios.charged_minor(self.psp_url, request)
        if charged is None:
            pytest.skip(f"{type(self.scenarios).__name__}.charged_minor() returns None: the PSP ledger is not visible")
        return charged


def timed(call: Callable[[], R]) -> tuple[R, float]:
    """The call's result and how many seconds it took."""
    start = time.monotonic()
    result = call()
    return result, time.monotonic() - start


def _checked(name: str, call: Callable[..., Any], args: tuple[Any, ...], expected: type[R]) -> R:
    try:
        result = call(*args)
    except Exception as exc:
        pytest.fail(
            f"rail.{name} raised {type(exc).__name__}; a rail must never raise from {name}: "
            "report transport failures as TRANSIENT (nothing sent) or UNCERTAIN (maybe sent)",
            pytrace=False,
        )
    if not isinstance(result, expected):
        pytest.fail(f"rail.{name} returned {type(result).__name__}, not a {expected.__name__}", pytrace=False)
    check_outcome(name, result)
    return result


def check_outcome(name: str, result: RailResult | RefundResult) -> None:
    """The outcome must be an ``Outcome`` member (not merely an equal string); code and reason text or None."""
    if not isinstance(result.outcome, Outcome):
        pytest.fail(
            f"rail.{name} answered outcome {result.outcome!r}, which is not a flosspay.railapi.Outcome member",
            pytrace=False,
        )
    for attr in ("code", "reason"):
        value = getattr(result, attr)
        if value is not None and not isinstance(value, str):
            pytest.fail(f"rail.{name} answered {attr}={value!r}; it must be a str or None", pytrace=False)


def json_safe(data: Mapping[str, Any]) -> bool:
    """True when ``data`` survives a JSON round trip unchanged (it is stored in a JSON column)."""
    try:
        return bool(msgspec.json.decode(msgspec.json.encode(data)) == data)
    except (TypeError, msgspec.EncodeError):
        return False
