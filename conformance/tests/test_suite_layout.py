"""The suite's own rules: every module re-exported, no test shadowing another, documented capabilities."""

from __future__ import annotations

import importlib
import inspect
import pkgutil

import flosspay_conformance.suite
import pytest
from flosspay_conformance import RailRequirements, requires

pytestmark = pytest.mark.unit

MODULES = [
    importlib.import_module(f"flosspay_conformance.suite.{info.name}")
    for info in pkgutil.iter_modules(flosspay_conformance.suite.__path__)
]


def test_every_suite_module_is_re_exported() -> None:
    exported = vars(flosspay_conformance.suite)
    for module in MODULES:
        tests = [name for name in vars(module) if name.startswith("test_")]
        assert tests, f"{module.__name__} has no tests"
        for name in tests:
            assert exported.get(name) is getattr(module, name), f"{module.__name__}.{name} is not re-exported"


def test_no_two_suite_tests_share_a_name() -> None:
    seen: dict[str, str] = {}
    for module in MODULES:
        for name, obj in vars(module).items():
            if name.startswith("test_") and inspect.isfunction(obj) and obj.__module__ == module.__name__:
                assert name not in seen, f"{name} is defined in {seen[name]} and {module.__name__}"
                seen[name] = module.__name__


def test_capabilities_are_conservative_by_default() -> None:
    requirements = RailRequirements()
    declared = {name: getattr(requirements, name) for name in RailRequirements.capabilities()}
    assert declared == {
        "refunds": False,
        "partial_refunds": False,
        "collect": False,
        "status_query": True,
        "three_d_secure": False,
        "next_action": False,
    }


def test_every_capability_explains_itself_without_markup() -> None:
    for name in RailRequirements.capabilities():
        reason = RailRequirements.describe(name)
        assert len(reason) > 20 and "``" not in reason


def test_a_subclass_declares_support_by_overriding_a_property() -> None:
    class Refunding(RailRequirements):
        @property
        def refunds(self) -> bool:
            return True

    assert Refunding().refunds and not Refunding().collect
    assert Refunding.capabilities() == RailRequirements.capabilities()


def test_requiring_an_unknown_capability_is_an_error() -> None:
    with pytest.raises(ValueError, match="unknown capabilities"):
        requires("teleport")
    with pytest.raises(AttributeError):
        RailRequirements.describe("teleport")
