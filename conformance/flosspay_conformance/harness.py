"""The session's shared machinery: loaded plugins, running sandboxes, built rails, the black hole.

Everything is keyed by rail name (and settings), so one pytest session can check several rails
(``pytest plugins/card plugins/wallet``), and everything started is stopped when the session ends.
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping

import pluggy

from flosspay.railapi import Rail, Sandbox
from flosspay_conformance.blackhole import BlackHole
from flosspay_conformance.loading import RailLoadError, build_rail, build_sandbox, load_plugin

SANDBOX_HOST = "127.0.0.1"

Key = tuple[str, tuple[tuple[str, str], ...]]


def _key(name: str, settings: Mapping[str, str]) -> Key:
    return name, tuple(sorted(settings.items()))


class Harness:
    """Starts things once per session on demand and stops all of them in ``close``."""

    def __init__(self) -> None:
        self._managers: dict[str, pluggy.PluginManager] = {}
        self._sandboxes: dict[Key, tuple[Sandbox, str]] = {}
        self._rails: dict[Key, Rail] = {}
        self._black_hole: BlackHole | None = None
        self._black_hole_url = ""

    def manager(self, name: str) -> pluggy.PluginManager:
        if name not in self._managers:
            self._managers[name] = load_plugin(name)
        return self._managers[name]

    def sandbox_url(self, name: str, settings: Mapping[str, str]) -> str:
        """The base URL of the rail's sandbox, started with ``settings`` on a free loopback port."""
        key = _key(name, settings)
        if key not in self._sandboxes:
            sandbox = build_sandbox(self.manager(name), name, settings)
            try:
                url = sandbox.start(SANDBOX_HOST, 0)
            except Exception as exc:
                raise RailLoadError(f"the {name!r} sandbox failed to start: {type(exc).__name__}: {exc}") from None
            self._sandboxes[key] = (sandbox, url)
        return self._sandboxes[key][1]

    def rail(self, name: str, settings: Mapping[str, str]) -> Rail:
        """The rail built by ``flosspay_rail(settings)``, once per distinct settings."""
        key = _key(name, settings)
        if key not in self._rails:
            try:
                self._rails[key] = build_rail(self.manager(name), name, settings)
            except RailLoadError:
                raise
            except Exception as exc:
                raise RailLoadError(f"flosspay_rail of {name!r} raised {type(exc).__name__}: {exc}") from None
        return self._rails[key]

    def black_hole_url(self) -> str:
        if self._black_hole is None:
            self._black_hole = BlackHole()
            self._black_hole_url = self._black_hole.start()
        return self._black_hole_url

    def black_hole_connections(self) -> int:
        """Connections the black hole has accepted so far."""
        self.black_hole_url()
        assert self._black_hole is not None
        return self._black_hole.accepted

    def close(self) -> None:
        for rail in self._rails.values():
            close = getattr(rail, "close", None)
            if callable(close):
                with contextlib.suppress(Exception):
                    close()
        for sandbox, _ in self._sandboxes.values():
            with contextlib.suppress(Exception):
                sandbox.stop()
        if self._black_hole is not None:
            self._black_hole.stop()
        self._rails.clear()
        self._sandboxes.clear()
        self._managers.clear()
