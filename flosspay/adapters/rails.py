"""Find rail plugins through the ``flosspay.rails`` entry points with pluggy, and enable a subset.

A plugin that fails to import, declares unknown hooks, or raises while building its rail is
reported by name with its error; FlossPay starts with the others.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Iterable
from importlib.metadata import EntryPoint, entry_points
from types import ModuleType
from typing import Any

import msgspec
import pluggy

from flosspay import hookspecs
from flosspay.domain.rail import Rail
from flosspay.railapi import Sandbox

ENTRY_POINT_GROUP = "flosspay.rails"
log = logging.getLogger(__name__)


class RailInfo(msgspec.Struct):
    """One installed rail plugin as ``flosspay rails list`` shows it."""

    name: str
    distribution: str | None
    version: str | None
    enabled: bool
    method: str | None = None
    error: str | None = None
    sandbox_url: str | None = None


class PluginRailRegistry:
    """The enabled rails of this process (implements the RailRegistry port)."""

    def __init__(self, rails: Iterable[Rail], infos: list[RailInfo]) -> None:
        self._by_name = {r.name: r for r in rails}
        self._by_method = {r.method.upper(): r for r in self._by_name.values()}
        self.infos = infos

    def get(self, name: str) -> Rail | None:
        return self._by_name.get(name)

    def by_method(self, method: str) -> Rail | None:
        return self._by_method.get(method.upper()) if isinstance(method, str) else None

    def methods(self) -> list[str]:
        return sorted(self._by_method)

    def all(self) -> list[Rail]:
        return list(self._by_name.values())

    def why_not_running(self, name: str) -> str:
        """Why the rail called ``name`` is not running here, in words an operator can act on."""
        info = next((i for i in self.infos if i.name == name), None)
        if info is None:
            return f"no {name} rail is installed (`flosspay rails list` shows what is)"
        if info.error:
            return f"it failed to start: {info.error}"
        return f"FLOSSPAY_RAILS does not include {name}"


class RailLoader:
    """Loads plugin modules, optionally starts their sandboxes, then builds the enabled rails."""

    def __init__(self, eps: Iterable[EntryPoint] | None = None) -> None:
        self.pm = pluggy.PluginManager("flosspay")
        self.pm.add_hookspecs(hookspecs)
        self.infos: dict[str, RailInfo] = {}
        self.modules: dict[str, ModuleType] = {}
        self.sandboxes: list[Sandbox] = []
        for ep in sorted(eps if eps is not None else entry_points(group=ENTRY_POINT_GROUP), key=lambda e: e.name):
            self._load(ep)

    def _load(self, ep: EntryPoint) -> None:
        name = ep.name.lower()
        dist = ep.dist
        info = RailInfo(name, dist.name if dist else None, dist.version if dist else None, enabled=False)
        self.infos[name] = info
        try:
            module = ep.load()
            self.pm.register(module, name=name)
        except Exception as exc:
            info.error = _one_line(exc)
            log.error("rail plugin %s failed to load: %s", name, info.error)
            return
        try:
            self.pm.check_pending()
        except pluggy.PluginValidationError as exc:
            self.pm.unregister(name=name)
            info.error = _one_line(exc)
            log.error("rail plugin %s declares unknown hooks: %s", name, info.error)
            return
        self.modules[name] = module

    def _call(self, name: str, hook: str, settings: dict[str, str]) -> Any:
        function = getattr(self.modules[name], hook, None)
        if function is None:
            return None
        return function(settings=settings)

    def sandbox(self, name: str, settings: dict[str, str]) -> Sandbox | None:
        """The rail's sandbox PSP, not started (None if the rail ships none); ``flosspay sandbox`` runs it."""
        return self._call(name, "flosspay_sandbox", dict(settings))  # type: ignore[no-any-return]

    def start_sandboxes(self, per_rail: dict[str, dict[str, str]], enabled: tuple[str, ...] | None) -> None:
        """For ``flosspay serve``: run each enabled rail's sandbox PSP on loopback unless a psp_url is set."""
        for name in self.modules:
            if enabled is not None and name not in enabled:
                continue
            settings = per_rail.setdefault(name, {})
            if settings.get("psp_url"):
                continue
            # A key of this run only, given to the sandbox and to its rail (``api_key``, i.e.
            # FLOSSPAY_<RAIL>_API_KEY): no other local user or process can call the sandbox.
            generated = not settings.get("api_key")
            if generated:
                settings["api_key"] = secrets.token_urlsafe(32)
            try:
                sandbox = self._call(name, "flosspay_sandbox", dict(settings))
                if sandbox is None:
                    if generated:
                        del settings["api_key"]
                    continue
                url = sandbox.start("127.0.0.1", 0)
            except Exception as exc:
                self.infos[name].error = f"sandbox failed: {_one_line(exc)}"
                log.error("rail %s sandbox failed to start: %s", name, self.infos[name].error)
                if generated:
                    del settings["api_key"]
                continue
            self.sandboxes.append(sandbox)
            settings["psp_url"] = url
            self.infos[name].sandbox_url = url

    def build(self, per_rail: dict[str, dict[str, str]], enabled: tuple[str, ...] | None) -> PluginRailRegistry:
        rails: list[Rail] = []
        if enabled is not None:
            for wanted in enabled:
                if wanted not in self.infos:
                    self.infos[wanted] = RailInfo(wanted, None, None, False, error="not installed")
                    log.error("FLOSSPAY_RAILS names %s, which is not installed", wanted)
        for name in self.modules:
            info = self.infos[name]
            if enabled is not None and name not in enabled:
                continue
            try:
                rail = self._call(name, "flosspay_rail", dict(per_rail.get(name, {})))
                if rail is None:
                    raise RuntimeError("flosspay_rail returned no rail")
                if not isinstance(rail, Rail):
                    raise TypeError(f"{type(rail).__name__} does not implement the Rail protocol")
            except Exception as exc:
                info.error = _one_line(exc)
                log.error("rail %s failed to start: %s", name, info.error)
                continue
            info.enabled = True
            info.method = rail.method
            rails.append(rail)
        return PluginRailRegistry(rails, sorted(self.infos.values(), key=lambda i: i.name))

    def stop_sandboxes(self) -> None:
        for sandbox in self.sandboxes:
            try:
                sandbox.stop()
            except Exception as exc:  # stopping is best effort at shutdown
                log.warning("sandbox stop failed: %s", _one_line(exc))
        self.sandboxes.clear()


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return f"{type(exc).__name__}: {text}"[:300]
