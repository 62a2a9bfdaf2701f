"""The example rail of docs/writing-a-rail.md passes the suite, run exactly as its author would run it."""

from __future__ import annotations

import inspect
import re

import flosspay_conformance.suite
import pytest
from conformance_test_paths import MINIMAL_RAIL, REPO

pytestmark = pytest.mark.integration

SUITE_TESTS = sorted(
    n for n, f in vars(flosspay_conformance.suite).items() if n.startswith("test_") and inspect.isfunction(f)
)
NOT_DECLARED = {"three_d_secure", "collect", "next_action"}  # what MinimalRequirements leaves off
TWICE = {"test_the_largest_valid_request_is_processed_to_a_final_state_and_recorded"}  # SQLite and PostgreSQL


def test_the_minimal_rail_passes_the_conformance_suite(pytester: pytest.Pytester, install_rails) -> None:  # type: ignore[no-untyped-def]
    install_rails({"minimal": "flosspay_minimal_rail.plugin"})
    # In a subprocess: in-process, its tests/conftest.py would collide with FlossPay's own
    # tests.conftest module already imported by this run, and never load.
    result = pytester.runpytest_subprocess(
        str(MINIMAL_RAIL / "tests"),
        "-p",
        "no:cacheprovider",
        "--import-mode=importlib",
        "-W",
        "ignore::pytest.PytestAssertRewriteWarning",
    )
    passed = len(SUITE_TESTS) + len(TWICE) - len(NOT_DECLARED)
    result.assert_outcomes(passed=passed, skipped=len(NOT_DECLARED))
    for capability in NOT_DECLARED:
        result.stdout.fnmatch_lines([f"SKIPPED *MinimalRequirements.{capability} is False*"])


def test_the_guide_names_only_files_that_exist() -> None:
    guide = (REPO / "docs" / "writing-a-rail.md").read_text()
    paths = set(re.findall(r"`(docs/examples/minimal_rail/[\w/.]+)`", guide))
    assert paths, "the guide should point at the example's files"
    missing = sorted(p for p in paths if not (REPO / p).exists())
    assert not missing


def test_the_guide_shows_the_example_rail_as_it_is() -> None:
    """Every code block the guide takes from an example file must still match that file."""
    guide = (REPO / "docs" / "writing-a-rail.md").read_text()
    blocks = re.findall(r"<!-- from (\S+) -->\n```\w*\n(.*?)```", guide, flags=re.S)
    assert len(blocks) >= 5
    for path, block in blocks:
        assert block.strip() in (REPO / path).read_text(), f"the guide's copy of {path} is out of date"
