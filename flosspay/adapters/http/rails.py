"""``GET /api/v1/rails``: what a merchant can pay with right now, and whether its PSP is healthy."""

from __future__ import annotations

from litestar import Response, get
from litestar.di import NamedDependency

from flosspay.adapters.http.services import ApiServices
from flosspay.application.rail_status import enabled_rails_body

RAILS_TAG = "rails"


@get("/rails", operation_id="listRails", summary="List enabled rails", sync_to_thread=True, tags=[RAILS_TAG])
def list_rails_handler(client_id: NamedDependency[str], services: NamedDependency[ApiServices]) -> Response[bytes]:
    """Each enabled rail with its payment method, its flows and its circuit breaker's state
    (CLOSED: calls pass; OPEN: the PSP is failing and payments wait; HALF_OPEN: probing)."""
    body = enabled_rails_body(services.rails, services.breakers)
    return Response(content=body, status_code=200, media_type="application/json")


RAIL_HANDLERS = [list_rails_handler]
