"""The Litestar application factory: routes, authentication, limits, errors and documentation."""

from __future__ import annotations

from litestar import Litestar, Response, Router, get
from litestar.datastructures import State
from litestar.di import Provide
from litestar.handlers import HTTPRouteHandler

from flosspay.adapters.http.health import HEALTH_HANDLERS
from flosspay.adapters.http.hmac_auth import authenticated_client_id, hmac_guard
from flosspay.adapters.http.ledger import LEDGER_HANDLERS
from flosspay.adapters.http.observe import observe, response_headers_hook
from flosspay.adapters.http.openapi import (
    API_PREFIX,
    SWAGGER_ASSETS,
    ApiDocument,
    OfflineSwaggerPlugin,
    openapi_config,
    swagger_routes,
)
from flosspay.adapters.http.payments import PAYMENT_HANDLERS
from flosspay.adapters.http.problems import EXCEPTION_HANDLERS
from flosspay.adapters.http.rails import RAIL_HANDLERS
from flosspay.adapters.http.refunds import REFUND_HANDLERS
from flosspay.adapters.http.services import SERVICES_STATE_KEY, ApiServices
from flosspay.adapters.http.webhooks import WEBHOOK_HANDLERS


def create_app(services: ApiServices) -> Litestar:
    """A ready-to-serve app; everything it touches comes from ``services``."""

    def provide_services() -> ApiServices:
        return services

    api = Router(
        path=API_PREFIX,
        route_handlers=[
            *PAYMENT_HANDLERS,
            *REFUND_HANDLERS,
            *LEDGER_HANDLERS,
            *RAIL_HANDLERS,
            *(WEBHOOK_HANDLERS if services.webhooks else []),
        ],
        before_request=hmac_guard(
            services.find_client, services.clock, services.clock_skew_seconds, services.rate_limiter
        ),
        dependencies={"client_id": Provide(authenticated_client_id, sync_to_thread=False)},
    )
    document = ApiDocument(services.rails)
    swagger = OfflineSwaggerPlugin(document)
    extra = [metrics_handler(services.metrics_path)] if services.metrics_path else []
    return Litestar(
        route_handlers=[api, *HEALTH_HANDLERS, *swagger_routes(swagger), *extra],
        middleware=[observe(metrics=bool(services.metrics_path))],
        dependencies={"services": Provide(provide_services, use_cache=True, sync_to_thread=False)},
        state=State({SERVICES_STATE_KEY: services}),
        exception_handlers=EXCEPTION_HANDLERS,
        before_send=[response_headers_hook(SWAGGER_ASSETS)],
        request_max_body_size=services.max_body_bytes,
        openapi_config=openapi_config(document, swagger, services.version),
        logging_config=None,  # logging is the process's business (CLI/container), not the app factory's
        debug=False,
    )


def metrics_handler(path: str) -> HTTPRouteHandler:
    """Prometheus' scrape target: outside the signed API, like the health probes."""

    def metrics() -> Response[bytes]:
        from flosspay.adapters.metrics import render

        body, content_type = render()
        return Response(body, media_type=content_type)

    return get(path, operation_id="metrics", include_in_schema=False, sync_to_thread=True)(metrics)
