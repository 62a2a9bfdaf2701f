"""The enabled rails with their methods, flows and circuit breaker state (``GET /api/v1/rails``, CLI)."""

from __future__ import annotations

from datetime import datetime

import msgspec

from flosspay.application.breakers import CircuitBreakers
from flosspay.domain.ports import RailRegistry


class BreakerView(msgspec.Struct, frozen=True, rename="camel"):
    """``state`` is UNKNOWN when the shared store does not answer."""

    service: str
    state: str
    failure_count: int = 0
    last_failure: datetime | None = None
    opened_at: datetime | None = None


class RailView(msgspec.Struct, frozen=True, rename="camel"):
    name: str
    method: str
    flows: list[str]
    breaker: BreakerView | None = None


class RailsView(msgspec.Struct, frozen=True, rename="camel"):
    rails: list[RailView]


def breaker_view(breakers: CircuitBreakers | None, service: str) -> BreakerView | None:
    if breakers is None:
        return None
    breaker = breakers.snapshot(service)
    if breaker is None:
        return BreakerView(service, "UNKNOWN")
    return BreakerView(service, breaker.state.value, breaker.failures, breaker.last_failure, breaker.opened_at)


def enabled_rails(rails: RailRegistry, breakers: CircuitBreakers | None) -> RailsView:
    views = []
    for method in rails.methods():
        rail = rails.by_method(method)
        if rail is None:
            continue
        flows = sorted(flow.value for flow in rail.flows)
        views.append(RailView(rail.name, rail.method, flows, breaker_view(breakers, rail.name)))
    return RailsView(views)


def enabled_rails_body(rails: RailRegistry, breakers: CircuitBreakers | None) -> bytes:
    return msgspec.json.encode(enabled_rails(rails, breakers))
