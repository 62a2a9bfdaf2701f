"""No secret (API key, card number, CVV) shows in a log line, a repr, an exception or stored data."""

from __future__ import annotations

import logging
import traceback
from collections.abc import Callable, Iterable
from typing import Any

import msgspec
import pytest

from flosspay.railapi import Flow, Rail
from flosspay_conformance import leaks
from flosspay_conformance.driver import RailDriver, new_case
from flosspay_conformance.requirements import RailRequirements
from flosspay_conformance.scenarios import RailScenarios

RICH_DEPTH = 6


def _secrets(scenarios: RailScenarios, fields: Any) -> list[str]:
    secrets = list(scenarios.secrets(fields))
    if not secrets:
        pytest.skip(f"{type(scenarios).__name__}.secrets() names no secret to look for")
    return secrets


def _rich_texts(obj: Any, depth: int = 0) -> Iterable[str]:
    """The reprs ``rich`` would print: each value ``__rich_repr__`` yields, recursively."""
    rich = getattr(type(obj), "__rich_repr__", None)
    if rich is None or depth > RICH_DEPTH:
        return
    for item in obj.__rich_repr__():
        values = item[1:] if isinstance(item, tuple) else (item,)
        for value in values:
            yield repr(value)
            yield from _rich_texts(value, depth + 1)


def _refuse(found: list[str], message: str) -> None:
    """Fail without pytest's assertion report, which would print the secrets themselves."""
    if found:
        pytest.fail(message, pytrace=False)


def _texts(obj: Any) -> list[str]:
    return [repr(obj), str(obj), *_rich_texts(obj)]


def _exception_texts(exc: BaseException) -> list[str]:
    """Everything a traceback or an error response could show: the chain's messages and field errors."""
    texts = ["".join(traceback.format_exception(exc))]
    for error in getattr(exc, "errors", None) or []:
        texts += [str(getattr(error, "field", "")), str(getattr(error, "message", "")), repr(error)]
    return texts


def test_no_secret_in_reprs_or_results(rail_driver: RailDriver, rail_requirements: RailRequirements) -> None:
    fields = rail_driver.fields("valid")
    secrets = _secrets(rail_driver.scenarios, fields)
    prepared = rail_driver.prepare(fields)
    request = rail_driver.request_for(prepared)
    objects: list[Any] = [rail_driver.convert(fields), prepared, request, rail_driver.rail]
    objects.append(rail_driver.execute(request))
    if rail_requirements.status_query:
        objects.append(rail_driver.status(request))
    if rail_requirements.refunds:
        objects.append(rail_driver.refund(request, request.amount, "refund-secrets"))
    for obj in objects:
        found = [hit for text in _texts(obj) for hit in leaks.in_text(text, secrets)]
        _refuse(found, f"repr of {type(obj).__name__} shows secrets: {leaks.masked(set(found))}")


def test_no_secret_in_stored_or_public_details(rail_driver: RailDriver) -> None:
    fields = rail_driver.fields("valid")
    secrets = _secrets(rail_driver.scenarios, fields)
    prepared = rail_driver.prepare(fields)
    stored = leaks.in_data(prepared.details, secrets)
    _refuse(stored, f"PreparedPayment.details (stored) holds secrets: {leaks.masked(stored)}")
    shown = leaks.in_data(prepared.public, secrets)
    _refuse(shown, f"PreparedPayment.public (shown to merchants) holds secrets: {leaks.masked(shown)}")


def test_no_secret_in_validation_errors(rail_under_test: Rail, rail_scenarios: RailScenarios) -> None:
    checked = 0
    for case in rail_scenarios.invalid():
        secrets = list(rail_scenarios.secrets(case.fields))
        try:
            struct = msgspec.convert(dict(case.fields), rail_under_test.request_type)
            rail_under_test.prepare(struct, case.amount or rail_scenarios.amount, Flow.PAY)
        except Exception as exc:
            checked += 1
            found = [hit for text in _exception_texts(exc) for hit in leaks.in_text(text, secrets)]
            _refuse(found, f"{type(exc).__name__} for {case.why or case.field} shows {leaks.masked(set(found))}")
    if not checked:
        pytest.skip("no invalid scenario raised")


def test_no_secret_in_logs(
    caplog: pytest.LogCaptureFixture,
    rail_driver: RailDriver,
    rail_requirements: RailRequirements,
    make_rail: Callable[[str], Rail],
    closed_port_url: str,
) -> None:
    scenarios = rail_driver.scenarios
    fields = rail_driver.fields("valid")
    secrets = _secrets(scenarios, fields)
    caplog.set_level(logging.DEBUG)
    request = rail_driver.request_for(rail_driver.prepare(fields))
    rail_driver.execute(request)
    rail_driver.execute(request)
    if rail_requirements.status_query:
        rail_driver.status(request)
    if rail_requirements.refunds:
        rail_driver.refund(request, request.amount, "refund-logs")
    rail_driver.execute(request, rail=make_rail(closed_port_url))
    for scenario in (scenarios.declined, scenarios.transient):
        other = scenario(new_case())
        if other is not None:
            secrets += [s for s in scenarios.secrets(other) if s not in secrets]
            rail_driver.execute(rail_driver.request_for(rail_driver.prepare(other)))
    for case in scenarios.invalid():
        secrets += [s for s in scenarios.secrets(case.fields) if s not in secrets]
        try:
            struct = msgspec.convert(dict(case.fields), rail_driver.rail.request_type)
            rail_driver.rail.prepare(struct, case.amount or scenarios.amount, Flow.PAY)
        except Exception:  # refused, as test_invalid_requests_are_refused_with_field_errors checks
            logging.getLogger(__name__).debug("invalid scenario refused")
    for record in caplog.records:
        texts = [record.getMessage(), record.exc_text or "", record.stack_info or ""]
        if record.exc_info and record.exc_info[1] is not None:
            texts += _exception_texts(record.exc_info[1])
        found = [hit for text in texts for hit in leaks.in_text(text, secrets)]
        _refuse(found, f"log record of {record.name!r} shows secrets: {leaks.masked(set(found))}")
