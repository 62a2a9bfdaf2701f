"""What the HTTP API needs from the rest of FlossPay, filled in by the composition root."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from litestar import Request

from flosspay.adapters.http.signature import MAX_CLOCK_SKEW_SECONDS
from flosspay.application.breakers import CircuitBreakers
from flosspay.application.policies import IntakePolicy
from flosspay.application.webhook_endpoints import WebhookContext
from flosspay.domain.clients import ApiClient
from flosspay.domain.ports import Clock, HealthProbe, RailRegistry, RateLimiter, UnitOfWorkFactory


@dataclass(frozen=True, slots=True, kw_only=True)
class ApiServices:
    """The ports and settings of the API; handlers reach the world only through these."""

    uow_factory: UnitOfWorkFactory
    rails: RailRegistry
    clock: Clock
    intake_policy: IntakePolicy
    health: HealthProbe
    find_client: Callable[[str], ApiClient | None]
    """Look a client up by id (cached by the container; may block briefly on a miss)."""
    fingerprint_key: bytes
    """Server secret keying idempotency fingerprints, so a stored one cannot be reversed."""
    max_body_bytes: int = 65536
    clock_skew_seconds: int = MAX_CLOCK_SKEW_SECONDS
    version: str
    webhooks: WebhookContext | None = None
    """The webhook use cases' ports (issue 12); without them the webhook routes are not served."""
    breakers: CircuitBreakers | None = None
    """The rails' circuit breakers, shown by ``GET /api/v1/rails``."""
    rate_limiter: RateLimiter | None = None
    """Per-client token buckets (None: no limit)."""
    metrics_path: str | None = None
    """Where Prometheus scrapes (outside /api, no authentication); None: no metrics endpoint."""


SERVICES_STATE_KEY = "flosspay_services"
"""Where ``create_app`` also keeps the services in the app's state (see ``services_of``)."""


def services_of(request: Request[Any, Any, Any]) -> ApiServices:
    """The app's services without Litestar's dependency injection, whose resolution per request the
    intake handlers skip (ADR 0024); other handlers name the ``services`` dependency."""
    services: ApiServices = request.app.state[SERVICES_STATE_KEY]
    return services
