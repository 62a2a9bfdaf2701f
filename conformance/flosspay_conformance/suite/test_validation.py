"""``prepare`` accepts good requests, splits them into storable and public data, refuses bad ones by field."""

from __future__ import annotations

import msgspec
import pytest

from flosspay.railapi import FieldError, Flow, Rail, ValidationFailed
from flosspay_conformance.driver import RailDriver, json_safe
from flosspay_conformance.scenarios import RailScenarios


def test_valid_request_is_prepared_into_json_details(rail_driver: RailDriver) -> None:
    prepared = rail_driver.prepare(rail_driver.fields("valid"))
    assert isinstance(prepared.details, dict) and isinstance(prepared.public, dict)
    assert json_safe(prepared.details), "details are stored as JSON: they must survive a JSON round trip"
    assert json_safe(prepared.public), "public data is shown as JSON: it must survive a JSON round trip"


def test_invalid_requests_are_refused_with_field_errors(rail_under_test: Rail, rail_scenarios: RailScenarios) -> None:
    invalid = list(rail_scenarios.invalid())
    assert invalid, "RailScenarios.invalid() must return at least one request the rail refuses"
    reached_prepare = 0
    for case in invalid:
        try:
            struct = msgspec.convert(dict(case.fields), rail_under_test.request_type)
        except msgspec.ValidationError:
            continue  # refused by the request type already, as FlossPay's API would
        reached_prepare += 1
        with pytest.raises(ValidationFailed) as refused:
            rail_under_test.prepare(struct, case.amount or rail_scenarios.amount, Flow.PAY)
        errors = refused.value.errors
        label = case.why or case.field or "an invalid request"
        assert errors, f"{label}: ValidationFailed must name at least one field"
        assert all(isinstance(e, FieldError) and e.field and e.message for e in errors), label
        if case.field is not None:
            assert case.field in [e.field for e in errors], f"{label}: expected an error on {case.field!r}"
    assert reached_prepare, "RailScenarios.invalid() needs a request that decodes but breaks one of the rail's rules"
