"""The line every FlossPay process logs when it starts: what it serves, with what, where (never a password)."""

from __future__ import annotations

import logging
import os

from flosspay.adapters.config import Settings
from flosspay.adapters.logs import redact_url
from flosspay.adapters.rails import PluginRailRegistry

logger = logging.getLogger("flosspay.startup")


def rail_problems(registry: PluginRailRegistry, enabled: tuple[str, ...] | None) -> dict[str, str]:
    """Rails this process was asked to run that could not start, with why (a rail left out on purpose is not one)."""
    return {
        info.name: info.error for info in registry.infos if info.error and (enabled is None or info.name in enabled)
    }


def log_startup(role: str, settings: Settings, registry: PluginRailRegistry, address: str | None = None) -> None:
    """One INFO line with the facts an operator checks first, plus one ERROR line per rail that failed."""
    problems = rail_problems(registry, settings.rails.enabled)
    enabled = ",".join(sorted(i.name for i in registry.infos if i.enabled)) or "none"
    broker = redact_url(settings.broker.url) if settings.broker.url else "in-process"
    parts = [f"flosspay {role} starting (pid {os.getpid()})"]
    if address:
        parts.append(f"address {address}")
    parts += [f"rails {enabled}", f"database {redact_url(settings.database.url)}", f"broker {broker}"]
    logger.info(
        ", ".join(parts),
        extra={
            "role": role,
            "address": address,
            "rails": enabled,
            "failed_rails": ",".join(sorted(problems)) or None,
            "database": redact_url(settings.database.url),
            "broker": broker,
        },
    )
    for name, error in sorted(problems.items()):
        logger.error("rail %s is not running: %s", name, error, extra={"rail": name})
    if not any(i.enabled for i in registry.infos):
        logger.error("no rail is running: payments will be refused (see `flosspay rails list`)")
