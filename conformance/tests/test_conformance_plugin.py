"""The pytest plugin: how a rail is chosen and declared, and the errors when it is not."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.integration

SUITE = "from flosspay_conformance.suite import *  # noqa: F403\n"
QUIET = ["-p", "no:cacheprovider", "--import-mode=importlib", "-W", "ignore::pytest.PytestAssertRewriteWarning"]
LOADS = "test_rail_loads_through_its_entry_point"


@pytest.fixture(autouse=True)
def _installed(install_rails) -> None:  # type: ignore[no-untyped-def]
    install_rails({"minimal": "flosspay_minimal_rail.plugin", "faulty_ok": "faulty_rails:plugins.faulty_ok"})


def test_without_a_rail_the_suite_says_what_to_do(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_rail=SUITE)
    result = pytester.runpytest(*QUIET, "-k", LOADS)
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*no rail chosen: pass --rail NAME or define a conformance_rail_name fixture*"])


def test_an_unknown_rail_is_reported_with_the_installed_ones(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_rail=SUITE)
    result = pytester.runpytest(*QUIET, "--rail", "nope", "--scenarios", "faulty_rails:FaultyScenarios", "-k", LOADS)
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*no rail 'nope' in entry point group 'flosspay.rails'*minimal*"])


def test_the_command_line_overrides_the_conftest(pytester: pytest.Pytester) -> None:
    pytester.makeconftest(
        "import pytest\n"
        "from faulty_rails import FaultyScenarios\n"
        "@pytest.fixture\n"
        "def conformance_rail_name():\n    return 'not_installed'\n"
        "@pytest.fixture\n"
        "def conformance_scenarios():\n    return FaultyScenarios()\n"
    )
    pytester.makepyfile(test_rail=SUITE)
    assert pytester.runpytest(*QUIET, "-k", LOADS).ret != 0
    result = pytester.runpytest(*QUIET, "--rail", "faulty_ok", "-k", LOADS)
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["flosspay conformance: --rail faulty_ok"])


def test_requirements_and_scenarios_load_from_the_command_line(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_rail=SUITE)
    options = ["--rail", "faulty_ok", "--scenarios", "faulty_rails:FaultyScenarios"]
    skipped = pytester.runpytest(*QUIET, *options, "-rs", "-k", "test_full_refund_completes_once")
    skipped.assert_outcomes(skipped=1)
    skipped.stdout.fnmatch_lines(["*RailRequirements.refunds is False: refund() returns the full amount*"])
    ran = pytester.runpytest(
        *QUIET, *options, "--requirements", "faulty_rails:FaultyRequirements", "-k", "test_full_refund_completes_once"
    )
    ran.assert_outcomes(passed=1)


@pytest.mark.parametrize("spec", ["faulty_rails:Nope", "no_module:X", "faulty_rails:FaultyScenarios"])
def test_a_bad_requirements_option_is_a_usage_error(pytester: pytest.Pytester, spec: str) -> None:
    pytester.makepyfile(test_rail=SUITE)
    result = pytester.runpytest(*QUIET, "--rail", "faulty_ok", "--requirements", spec, "-k", "refund")
    assert result.ret != 0
    result.stdout.fnmatch_lines([f"*--requirements {spec!r}*"])


def test_suite_tests_are_marked_so_they_can_be_selected(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_rail=SUITE, test_other="def test_plain():\n    pass\n")
    result = pytester.runpytest(*QUIET, "--collect-only", "-q", "-m", "not conformance")
    result.stdout.fnmatch_lines(["test_other.py::test_plain", "*1/* tests collected*"])
