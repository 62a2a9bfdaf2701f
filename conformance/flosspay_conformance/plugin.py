"""The pytest plugin (entry point ``pytest11``): the ``--rail`` option and the fixtures the suite uses.

A rail's own tests declare three things, as fixtures in its ``conftest.py`` (or on the command
line, which wins):

- ``conformance_rail_name`` → the entry point name (``--rail NAME``);
- ``conformance_requirements`` → a ``RailRequirements`` subclass instance (``--requirements module:Class``);
- ``conformance_scenarios`` → a ``RailScenarios`` subclass instance (``--scenarios module:Class``).

Its test module is then one line: ``from flosspay_conformance.suite import *``.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from flosspay.railapi import Rail
from flosspay_conformance.blackhole import closed_port_url as _closed_port_url
from flosspay_conformance.driver import RailDriver
from flosspay_conformance.harness import Harness
from flosspay_conformance.loading import RailLoadError
from flosspay_conformance.marks import MARKER
from flosspay_conformance.requirements import RailRequirements
from flosspay_conformance.scenarios import RailScenarios

SUITE_PACKAGE = "flosspay_conformance.suite"


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("flosspay-conformance", "FlossPay rail conformance suite")
    group.addoption("--rail", dest="flosspay_rail", metavar="NAME", help="the rail (flosspay.rails entry point)")
    group.addoption(
        "--requirements", dest="flosspay_requirements", metavar="MODULE:CLASS", help="the rail's RailRequirements"
    )
    group.addoption("--scenarios", dest="flosspay_scenarios", metavar="MODULE:CLASS", help="the rail's RailScenarios")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", f"{MARKER}(*capabilities): skip unless the rail declares the capabilities")
    config.addinivalue_line("markers", "conformance: a test of the FlossPay rail conformance suite")
    config.addinivalue_line("markers", "integration: talks to a real server (the conformance suite: a sandbox PSP)")


def pytest_report_header(config: pytest.Config) -> str | None:
    rail = config.getoption("flosspay_rail")
    return f"flosspay conformance: --rail {rail}" if rail else None


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark the suite's tests wherever a rail imported them, so ``-m conformance`` selects them."""
    for item in items:
        function = getattr(item, "function", None)
        if function is not None and getattr(function, "__module__", "").startswith(SUITE_PACKAGE):
            item.add_marker(pytest.mark.conformance)
            item.add_marker(pytest.mark.integration)


def _load_class(spec: str, base: type[Any], option: str) -> Any:
    module_name, _, class_name = spec.partition(":")
    try:
        cls = getattr(importlib.import_module(module_name), class_name)
    except (ImportError, AttributeError, ValueError) as exc:
        raise pytest.UsageError(f"{option} {spec!r}: cannot load MODULE:CLASS ({exc})") from None
    if not (isinstance(cls, type) and issubclass(cls, base)):
        raise pytest.UsageError(f"{option} {spec!r} is not a subclass of {base.__name__}")
    return cls()


# --- what a rail declares (override these in the rail's conftest.py) ------------------------------


@pytest.fixture
def conformance_rail_name() -> str:
    """The rail's entry point name; override in conftest.py or pass ``--rail NAME``."""
    pytest.fail(
        "no rail chosen: pass --rail NAME or define a conformance_rail_name fixture in conftest.py", pytrace=False
    )


@pytest.fixture
def conformance_requirements() -> RailRequirements:
    """The rail's declared capabilities; the default declares none of the optional ones."""
    return RailRequirements()


@pytest.fixture
def conformance_scenarios() -> RailScenarios:
    """The rail's scenario data; override in conftest.py or pass ``--scenarios module:Class``."""
    pytest.fail(
        "no scenarios: define a conformance_scenarios fixture returning your RailScenarios subclass", pytrace=False
    )


# --- what the suite uses ------------------------------------------------------------------------


@pytest.fixture
def rail_name(request: pytest.FixtureRequest) -> str:
    name: str | None = request.config.getoption("flosspay_rail")
    return name or request.getfixturevalue("conformance_rail_name")


@pytest.fixture
def rail_requirements(request: pytest.FixtureRequest) -> RailRequirements:
    spec = request.config.getoption("flosspay_requirements")
    requirements = (
        _load_class(spec, RailRequirements, "--requirements")
        if spec
        else request.getfixturevalue("conformance_requirements")
    )
    if not isinstance(requirements, RailRequirements):
        pytest.fail(
            f"conformance_requirements returned {type(requirements).__name__}, not a RailRequirements", pytrace=False
        )
    return requirements


@pytest.fixture
def rail_scenarios(request: pytest.FixtureRequest) -> RailScenarios:
    spec = request.config.getoption("flosspay_scenarios")
    scenarios = (
        _load_class(spec, RailScenarios, "--scenarios") if spec else request.getfixturevalue("conformance_scenarios")
    )
    if not isinstance(scenarios, RailScenarios):
        pytest.fail(f"conformance_scenarios returned {type(scenarios).__name__}, not a RailScenarios", pytrace=False)
    return scenarios


@pytest.fixture(scope="session")
def conformance_harness() -> Iterator[Harness]:
    harness = Harness()
    yield harness
    harness.close()


@pytest.fixture
def rail_sandbox_url(conformance_harness: Harness, rail_name: str, rail_scenarios: RailScenarios) -> str:
    """The running sandbox PSP of the rail (started once per session and sandbox settings)."""
    try:
        return conformance_harness.sandbox_url(rail_name, rail_scenarios.sandbox_settings())
    except RailLoadError as exc:
        pytest.fail(str(exc), pytrace=False)


@pytest.fixture
def make_rail(conformance_harness: Harness, rail_name: str, rail_scenarios: RailScenarios) -> Callable[[str], Rail]:
    """Build the rail against any PSP URL (the sandbox, a black hole) with the scenarios' timeout."""

    def make(psp_url: str) -> Rail:
        settings = rail_scenarios.settings(psp_url, rail_scenarios.timeout_seconds)
        try:
            return conformance_harness.rail(rail_name, settings)
        except RailLoadError as exc:
            pytest.fail(str(exc), pytrace=False)

    return make


@pytest.fixture
def rail_under_test(make_rail: Callable[[str], Rail], rail_sandbox_url: str) -> Rail:
    """The rail, loaded through its entry point and pointed at its sandbox."""
    return make_rail(rail_sandbox_url)


@pytest.fixture
def rail_driver(rail_under_test: Rail, rail_scenarios: RailScenarios, rail_sandbox_url: str) -> RailDriver:
    return RailDriver(rail_under_test, rail_scenarios, rail_sandbox_url)


@pytest.fixture
def black_hole_url(conformance_harness: Harness) -> str:
    """A PSP URL that accepts connections and never answers."""
    return conformance_harness.black_hole_url()


@pytest.fixture
def closed_port_url() -> str:
    """A PSP URL where nothing listens."""
    return _closed_port_url()


@pytest.fixture(autouse=True)
def _conformance_requirements_gate(request: pytest.FixtureRequest) -> None:
    """Skip a suite test whose capability the rail does not declare, naming the property and its meaning."""
    marker = request.node.get_closest_marker(MARKER)
    if marker is None:
        return
    requirements: RailRequirements = request.getfixturevalue("rail_requirements")
    for capability in marker.args:
        if not getattr(requirements, capability):
            meaning = type(requirements).describe(capability)
            pytest.skip(f"{type(requirements).__name__}.{capability} is False: {meaning}")
