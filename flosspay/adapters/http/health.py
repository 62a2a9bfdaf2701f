"""Liveness and readiness probes for orchestrators; no authentication. Liveness is JSON, readiness plain text."""

from __future__ import annotations

import logging

from litestar import Response, get
from litestar.di import NamedDependency
from litestar.enums import MediaType

from flosspay.adapters.http.services import ApiServices

LIVENESS_BODY = {"status": "ok"}
READY_TEXT = "READY"
HEALTH_TAG = "health"

logger = logging.getLogger("flosspay.http")


@get(
    "/health",
    operation_id="liveness",
    summary="Liveness probe",
    media_type=MediaType.JSON,
    sync_to_thread=False,
    tags=[HEALTH_TAG],
)
def liveness() -> dict[str, str]:
    """The process is up and serving HTTP: ``{"status": "ok"}``."""
    return LIVENESS_BODY


@get(
    "/health/ready",
    operation_id="readiness",
    summary="Readiness probe",
    media_type=MediaType.TEXT,
    sync_to_thread=True,
    tags=[HEALTH_TAG],
)
def readiness(services: NamedDependency[ApiServices]) -> Response[str]:
    """200 only when every dependency (database, broker) answers; 503 naming those that do not.

    The first line is the verdict; one line per dependency and the dead-letter count follow.
    """
    try:
        checks = services.health.check()
        counts = services.health.counts()
    except Exception:
        logger.exception("health check failed")
        checks, counts = {"health check": False}, {}
    down = sorted(name for name, ok in checks.items() if not ok)
    lines = [f"{name}: {'up' if ok else 'down'}" for name, ok in checks.items()]
    lines += [f"{name}: {value}" for name, value in counts.items()]
    details = "".join(f"\n{line}" for line in lines)
    if down:
        verdict = f"NOT READY: {', '.join(down)} unavailable"
        return Response(verdict + details, status_code=503, media_type=MediaType.TEXT)
    return Response(READY_TEXT + details, status_code=200, media_type=MediaType.TEXT)


HEALTH_HANDLERS = [liveness, readiness]
