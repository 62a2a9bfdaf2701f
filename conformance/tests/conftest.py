"""Fixtures to make rails installable without pip: a fake ``*.dist-info`` with entry points on sys.path."""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping

import httpcore  # noqa: F401  (see below)
import httpx  # noqa: F401
import pytest
from conformance_test_paths import HERE, MINIMAL_RAIL

# pytester's in-process runs drop every module they imported when they end. httpx imports httpcore
# lazily and caches its exception classes on first use; were httpcore first imported inside one
# run, the next run would raise a fresh httpcore.ConnectError that httpx no longer maps. Import both
# here, outside any run, so they survive.

pytest_plugins = ["pytester"]

InstallRails = Callable[[Mapping[str, str]], None]


@pytest.fixture
def install_rails(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> InstallRails:
    """Register ``{entry point name: "module:object"}`` in group flosspay.rails, as pip would.

    The minimal example rail and this folder (the faulty rails) go on sys.path too; everything is
    undone after the test.
    """

    def install(entry_points: Mapping[str, str]) -> None:
        site = tmp_path_factory.mktemp("site")
        info = site / "flosspay_test_rails-0.0.0.dist-info"
        info.mkdir()
        (info / "METADATA").write_text("Metadata-Version: 2.1\nName: flosspay-test-rails\nVersion: 0.0.0\n")
        lines = [f"{name} = {target}" for name, target in entry_points.items()]
        (info / "entry_points.txt").write_text("[flosspay.rails]\n" + "\n".join(lines) + "\n")
        for path in (site, MINIMAL_RAIL, HERE):
            monkeypatch.syspath_prepend(str(path))
        # ... and for pytest runs in a subprocess (see test_minimal_rail_example.py)
        inherited = [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]
        monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(site), str(MINIMAL_RAIL), str(HERE), *inherited]))

    return install
