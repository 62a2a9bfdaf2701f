"""Each contract check of the suite fails against a rail that breaks it, and passes against the control.

The suite runs in-process (pytester) against the faulty rails of ``faulty_rails.py``, installed
under fake entry points; ``-k`` picks the checks each fault must trip.
"""

from __future__ import annotations

import importlib

import pytest

pytestmark = pytest.mark.integration

SUITE = "from flosspay_conformance.suite import *  # noqa: F403\n"
OPTIONS = ["--requirements", "faulty_rails:FaultyRequirements", "--scenarios", "faulty_rails:FaultyScenarios"]

FAULTS: list[tuple[str, list[str]]] = [
    ("faulty_double_charge", ["test_executing_one_reference_twice_charges_once"]),
    ("faulty_leaky_repr", ["test_no_secret_in_reprs_or_results"]),
    ("faulty_leaky_log", ["test_no_secret_in_logs"]),
    ("faulty_leaky_error", ["test_no_secret_in_validation_errors"]),
    ("faulty_stores_pan", ["test_no_secret_in_stored_or_public_details"]),
    (
        "faulty_raises_on_timeout",
        ["test_execute_against_a_silent_psp_returns_within_the_timeout", "test_unreachable_psp_is_transient"],
    ),
    ("faulty_ignores_timeout", ["test_execute_against_a_silent_psp_returns_within_the_timeout"]),
    (
        "faulty_over_refund",
        ["test_refund_above_the_amount_is_declined", "test_partial_refunds_add_up_to_at_most_the_amount"],
    ),
    (
        "faulty_status_lies",
        ["test_status_of_an_unknown_reference_is_not_found", "test_status_agrees_with_a_declined_execute"],
    ),
    ("faulty_transient_as_declined", ["test_transient_failure_is_reported_as_transient"]),
    ("faulty_lax_validation", ["test_invalid_requests_are_refused_with_field_errors"]),
    ("faulty_str_outcome", ["test_every_answer_is_an_outcome_member"]),
    ("faulty_connects_at_startup", ["test_building_the_rail_does_no_network_io"]),
]


RAILS = ["faulty_ok", *(rail for rail, _ in FAULTS)]


def run_suite(pytester: pytest.Pytester, rail: str, tests: list[str]) -> pytest.RunResult:
    pytester.makepyfile(test_faulty_suite=SUITE)
    selection = " or ".join(tests)
    return pytester.runpytest(
        "--rail",
        rail,
        *OPTIONS,
        "-k",
        selection,
        "-p",
        "no:cacheprovider",
        "-ra",
        "-W",
        "ignore::pytest.PytestAssertRewriteWarning",
        "--import-mode=importlib",
    )


@pytest.fixture(autouse=True)
def _installed(install_rails) -> None:  # type: ignore[no-untyped-def]
    install_rails({name: f"faulty_rails:plugins.{name}" for name in RAILS})


def test_every_faulty_rail_is_checked() -> None:
    faulty_rails = importlib.import_module("faulty_rails")  # importable once the fixture set sys.path
    assert sorted(faulty_rails.RAILS) == sorted(RAILS)
    assert {name: f"faulty_rails:plugins.{name}" for name in RAILS} == faulty_rails.ENTRY_POINTS


@pytest.mark.parametrize(("rail", "tests"), FAULTS, ids=[rail for rail, _ in FAULTS])
def test_the_suite_fails_the_faulty_rail(pytester: pytest.Pytester, rail: str, tests: list[str]) -> None:
    result = run_suite(pytester, rail, tests)
    result.assert_outcomes(failed=len(tests))
    for name in tests:
        result.stdout.fnmatch_lines([f"FAILED *::{name}*"])


def test_the_control_rail_passes_every_check_the_faults_trip(pytester: pytest.Pytester) -> None:
    every = sorted({name for _, tests in FAULTS for name in tests})
    result = run_suite(pytester, "faulty_ok", every)
    result.assert_outcomes(passed=len(every))


def test_failures_never_print_the_secret_itself(pytester: pytest.Pytester) -> None:
    result = run_suite(pytester, "faulty_leaky_repr", ["test_no_secret_in_reprs_or_results"])
    result.assert_outcomes(failed=1)
    output = result.stdout.str()
    assert "shows secrets: 41…(16 chars)" in output
    assert "4111111111111111" not in output
