"""The rail loads as FlossPay loads it, says who it is, and does no network I/O while being built."""

from __future__ import annotations

import re
import time

import msgspec

from flosspay.railapi import Flow, Rail
from flosspay_conformance.harness import Harness
from flosspay_conformance.loading import build_rail
from flosspay_conformance.requirements import RailRequirements
from flosspay_conformance.scenarios import RailScenarios


def test_rail_loads_through_its_entry_point(rail_under_test: Rail, rail_name: str) -> None:
    assert isinstance(rail_under_test, Rail), "flosspay_rail must return an object with the Rail protocol's members"
    assert rail_under_test.name == rail_name, "Rail.name must equal the entry point name (FLOSSPAY_RAILS uses it)"


def test_rail_declares_name_method_flows_and_request_type(rail_under_test: Rail) -> None:
    assert re.fullmatch(r"[a-z][a-z0-9_]{0,31}", rail_under_test.name), "name: short, lower-case identifier"
    assert re.fullmatch(r"[A-Z][A-Z0-9_]{0,31}", rail_under_test.method), "method: upper-case identifier"
    flows = rail_under_test.flows
    assert isinstance(flows, frozenset) and all(isinstance(f, Flow) for f in flows), "flows: frozenset of Flow"
    assert Flow.PAY in flows, "every rail supports PAY"
    request_type = rail_under_test.request_type
    assert isinstance(request_type, type) and issubclass(request_type, msgspec.Struct)


def test_declared_collect_capability_matches_flows(rail_under_test: Rail, rail_requirements: RailRequirements) -> None:
    assert (Flow.COLLECT in rail_under_test.flows) == rail_requirements.collect, (
        "RailRequirements.collect must be True exactly when Flow.COLLECT is in Rail.flows"
    )


def test_declared_refund_capabilities_match_the_rail_class(
    rail_under_test: Rail, rail_requirements: RailRequirements
) -> None:
    """What FlossPay reads (the rail's ``refunds``/``partial_refunds`` class attributes) is what the suite tests."""
    for name in ("refunds", "partial_refunds"):
        declared = getattr(rail_under_test, name, False) is True
        assert declared == getattr(rail_requirements, name), (
            f"Rail.{name} (a ClassVar[bool], False when absent) must equal RailRequirements.{name}:"
            " FlossPay takes refunds only for what the rail class declares"
        )


def test_declared_requirements_are_consistent(rail_requirements: RailRequirements) -> None:
    if rail_requirements.partial_refunds:
        assert rail_requirements.refunds, "partial_refunds needs refunds"


def test_building_the_rail_does_no_network_io(
    conformance_harness: Harness, rail_name: str, rail_scenarios: RailScenarios, black_hole_url: str
) -> None:
    settings = rail_scenarios.settings(black_hole_url, rail_scenarios.timeout_seconds)
    manager = conformance_harness.manager(rail_name)
    before = conformance_harness.black_hole_connections()
    rails = [build_rail(manager, rail_name, settings)]  # the first build also imports the rail's modules
    started = time.monotonic()
    rails.append(build_rail(manager, rail_name, settings))
    took = time.monotonic() - started
    time.sleep(0.1)  # let the black hole notice a connection made during construction
    try:
        assert conformance_harness.black_hole_connections() == before, "flosspay_rail must not connect (connect lazily)"
        assert took < rail_scenarios.timeout_seconds, f"building the rail took {took:.2f}s"
    finally:
        for rail in rails:
            close = getattr(rail, "close", None)
            if callable(close):
                close()
