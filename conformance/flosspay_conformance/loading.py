"""Load a rail exactly as FlossPay does: pluggy, the ``flosspay.rails`` entry points, the hookspecs.

Only the named entry point is loaded, so other installed rails can neither break nor mask it.
"""

from __future__ import annotations

import importlib.metadata
from collections.abc import Mapping

import pluggy

import flosspay.hookspecs
from flosspay.railapi import Rail, Sandbox

ENTRY_POINT_GROUP = "flosspay.rails"


class RailLoadError(Exception):
    """The rail could not be loaded or built; the message says what to fix."""


def installed_rails() -> list[str]:
    """Names of every entry point in the ``flosspay.rails`` group (for error messages)."""
    names = {ep.name for ep in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP)}
    return sorted(names)


def load_plugin(name: str) -> pluggy.PluginManager:
    """A plugin manager holding only the rail ``name``, validated against FlossPay's hookspecs."""
    manager = pluggy.PluginManager("flosspay")
    manager.add_hookspecs(flosspay.hookspecs)
    count = manager.load_setuptools_entrypoints(ENTRY_POINT_GROUP, name=name)
    if count == 0:
        known = ", ".join(installed_rails()) or "none"
        raise RailLoadError(
            f"no rail {name!r} in entry point group {ENTRY_POINT_GROUP!r} (installed: {known}); "
            "is its distribution installed (pip install -e path/to/rail)?"
        )
    try:
        manager.check_pending()
    except pluggy.PluginValidationError as exc:
        raise RailLoadError(f"rail {name!r} implements unknown hooks: {exc}") from None
    return manager


def build_rail(manager: pluggy.PluginManager, name: str, settings: Mapping[str, str]) -> Rail:
    """Call ``flosspay_rail(settings)`` and insist on exactly one rail."""
    rails = [r for r in manager.hook.flosspay_rail(settings=dict(settings)) if r is not None]
    if len(rails) != 1:
        raise RailLoadError(f"rail plugin {name!r} returned {len(rails)} rails from flosspay_rail; expected 1")
    rail: Rail = rails[0]
    return rail


def build_sandbox(manager: pluggy.PluginManager, name: str, settings: Mapping[str, str]) -> Sandbox:
    """Call ``flosspay_sandbox(settings)``; the suite needs a sandbox PSP to run against."""
    sandboxes = [s for s in manager.hook.flosspay_sandbox(settings=dict(settings)) if s is not None]
    if len(sandboxes) != 1:
        raise RailLoadError(
            f"rail plugin {name!r} returned {len(sandboxes)} sandboxes from flosspay_sandbox; "
            "the conformance suite needs exactly one sandbox PSP to run against"
        )
    sandbox: Sandbox = sandboxes[0]
    return sandbox
