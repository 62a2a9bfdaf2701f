"""The OpenAPI 3.1 document and an offline Swagger UI.

Handlers read raw bodies (the signature covers the exact bytes), so Litestar cannot infer request
bodies; this module completes Litestar's generated document with the msgspec schemas of the
payloads and views, the HMAC security headers, ``Idempotency-Key``, every documented error as
``application/problem+json``, and each enabled rail's fields for ``/payments``.
"""

from __future__ import annotations

import copy
import re
import threading
from collections.abc import Callable
from typing import Any

import msgspec
from litestar import Request, Response, Router, get
from litestar.enums import MediaType
from litestar.openapi import OpenAPIConfig
from litestar.openapi.plugins import JsonRenderPlugin, SwaggerRenderPlugin
from litestar.static_files import create_static_files_router
from swagger_ui_bundle import swagger_ui_path  # type: ignore[import-untyped]

from flosspay.adapters.http.hmac_auth import CLIENT_ID_HEADER, SIGNATURE_HEADER, TIMESTAMP_HEADER
from flosspay.adapters.http.idempotent import REPLAYED_HEADER
from flosspay.adapters.http.payloads import CollectRequest, PaymentHeader, PayRequest
from flosspay.adapters.http.problems import PROBLEM_JSON, Problem
from flosspay.adapters.http.refund_views import RefundDetailView, RefundView
from flosspay.adapters.http.refunds import RefundRequest
from flosspay.adapters.http.security_headers import swagger_policy
from flosspay.adapters.http.views import AcceptedView, StatusView
from flosspay.adapters.http.webhook_openapi import complete_webhook_operations
from flosspay.application.ledger_head import LedgerHeadView
from flosspay.application.rail_status import RailsView
from flosspay.domain.idempotency import MAX_KEY_LENGTH
from flosspay.domain.ports import RailRegistry

SCHEMA_PATH = "/schema"
SWAGGER_PAGE = "/swagger-ui.html"
SWAGGER_ASSETS = "/swagger-ui-assets"
API_PREFIX = "/api/v1"

_REF = "#/components/schemas/{name}"
_SECURITY_SCHEMES = {
    "ClientId": (CLIENT_ID_HEADER, "Your API client id."),
    "Timestamp": (TIMESTAMP_HEADER, "Unix time in whole seconds, within the allowed clock skew (300 s by default)."),
    "Signature": (
        SIGNATURE_HEADER,
        "Standard Base64 of HMAC-SHA256(secret, METHOD\\nPATH?QUERY\\nTIMESTAMP\\nIDEMPOTENCY_KEY\\nBODY).",
    ),
}
_ERRORS = {
    400: "The request is malformed or breaks a rule; `errors` names each field.",
    401: "Missing, stale or wrong signature headers.",
    404: "No such payment for this client.",
    409: "The Idempotency-Key was used for a different request, or that request is still in progress"
    " (a refund: or the payment cannot be refunded, for example it is not COMPLETED).",
    413: "The body is larger than the limit.",
    415: "The body is not application/json, or not UTF-8.",
    429: "Over this client's rate limit; wait `Retry-After` seconds.",
    500: "Unexpected server error (logged; no details are shown).",
    503: "A dependency is down; retry later.",
}
_POST_ERRORS = (400, 401, 409, 413, 415, 429, 500, 503)
_GET_ERRORS = (400, 401, 404, 413, 429, 500, 503)
_OPERATIONS: dict[str, tuple[str | None, int, str, tuple[int, ...]]] = {
    # operationId: (request schema, success status, success schema, error statuses)
    "initiatePay": ("PayRequest", 200, "AcceptedView", _POST_ERRORS),
    "initiateCollect": ("CollectRequest", 202, "AcceptedView", _POST_ERRORS),
    "createPayment": ("PaymentRequest", 200, "AcceptedView", _POST_ERRORS),
    "getPaymentStatus": (None, 200, "StatusView", _GET_ERRORS),
    # Refunds (issue 13)
    "createRefund": ("RefundRequest", 202, "RefundView", tuple(sorted((*_POST_ERRORS, 404)))),
    "getRefund": (None, 200, "RefundDetailView", _GET_ERRORS),
    "getLedgerHead": (None, 200, "LedgerHeadView", tuple(s for s in _GET_ERRORS if s != 404)),
    "listRails": (None, 200, "RailsView", tuple(s for s in _GET_ERRORS if s != 404)),
}
_SUCCESS_DESCRIPTIONS = {
    "getLedgerHead": "The newest link of the hash chain and the newest checkpoint",
    "listRails": "The enabled rails with their circuit breaker state",
    "getRefund": "The refund",
}


def _ref(name: str) -> dict[str, str]:
    return {"$ref": _REF.format(name=name)}


def _rail_schema(method: str, request_type: type[msgspec.Struct], components: dict[str, Any]) -> str:
    """Register ``<method>PaymentRequest``: the generic fields plus the rail's own, flattened."""
    safe = re.sub(r"[^A-Za-z0-9._-]", "_", method)  # component names allow only these
    prefix = f"{safe}_"
    (top,), rail_components = msgspec.json.schema_components(
        [request_type], ref_template=_REF.format(name=prefix + "{name}")
    )
    top_name = top["$ref"].rsplit("/", 1)[-1][len(prefix) :]
    rail = rail_components.pop(top_name)  # flattened below; nested types keep their own entries
    for name, definition in rail_components.items():
        components[prefix + name] = definition
    base = components["PaymentHeader"]
    properties = {**rail.get("properties", {}), **base["properties"]}
    properties["method"] = {"type": "string", "enum": [method], "description": f"Selects the {method} rail."}
    schema: dict[str, Any] = {
        "title": f"{method} payment",
        "type": "object",
        "properties": properties,
        "required": sorted(set(base.get("required", [])) | set(rail.get("required", []))),
    }
    if rail.get("additionalProperties") is False:
        schema["additionalProperties"] = False
    name = f"{safe}PaymentRequest"
    components[name] = schema
    return name


def _apply_enums(schema: dict[str, Any], enums: dict[str, list[str]], components: dict[str, Any]) -> None:
    """Give dotted field paths (``wallet.provider``) their closed set of values, following ``$ref``s."""
    for path, values in enums.items():
        node: dict[str, Any] | None = schema
        *parents, leaf = path.split(".")
        for part in parents:
            node = _resolve(node, components).get("properties", {}).get(part) if node is not None else None
        target = _resolve(node, components).get("properties", {}).get(leaf) if node is not None else None
        if isinstance(target, dict) and values:
            target["enum"] = list(values)


def _resolve(node: dict[str, Any] | None, components: dict[str, Any]) -> dict[str, Any]:
    while isinstance(node, dict) and "$ref" in node:
        node = components.get(node["$ref"].rsplit("/", 1)[-1])
    return node if isinstance(node, dict) else {}


def _rail_enums(rail: object) -> dict[str, list[str]]:
    """A rail may declare ``field_enums() -> {"dotted.field": [values]}`` (optional; see writing-a-rail.md)."""
    declared = getattr(rail, "field_enums", None)
    return dict(declared()) if callable(declared) else {}


def _add_public_fields(rails: RailRegistry, components: dict[str, Any]) -> None:
    """The fields each rail adds to the payment views (``public_type``), as optional properties of both views."""
    for method in rails.methods():
        rail = rails.by_method(method)
        public_type = getattr(rail, "public_type", None)
        if rail is None or public_type is None:
            continue
        prefix = re.sub(r"[^A-Za-z0-9._-]", "_", method) + "_"
        (top,), found = msgspec.json.schema_components([public_type], ref_template=_REF.format(name=prefix + "{name}"))
        top_name = top["$ref"].rsplit("/", 1)[-1][len(prefix) :]
        public = found.pop(top_name)
        for name, definition in found.items():
            components[prefix + name] = definition
        _apply_enums(public, _rail_enums(rail), components)
        for view in ("AcceptedView", "StatusView"):
            properties = components[view].setdefault("properties", {})
            for field, schema in public.get("properties", {}).items():
                described = {**schema, "description": f"{method} payments only."} if "$ref" not in schema else schema
                properties.setdefault(field, described)


def _payment_request(rails: RailRegistry, components: dict[str, Any]) -> dict[str, Any]:
    variants = []
    for method in rails.methods():
        rail = rails.by_method(method)
        if rail is not None:
            name = _rail_schema(method, rail.request_type, components)
            _apply_enums(components[name], _rail_enums(rail), components)
            variants.append(_ref(name))
    schema: dict[str, Any] = {"oneOf": variants} if variants else _ref("PaymentHeader")
    return {**schema, "description": "`method` selects the rail; the rail's own fields sit beside it."}


_RATE_LIMIT_HEADERS = {
    "RateLimit-Limit": "Requests this client may send at once (its burst).",
    "RateLimit-Remaining": "Requests left in the bucket now.",
    "RateLimit-Reset": "Seconds until the bucket is full again.",
}


def _rate_limit_headers() -> dict[str, Any]:
    return {name: {"description": text, "schema": {"type": "integer"}} for name, text in _RATE_LIMIT_HEADERS.items()}


def _problem_response(status: int) -> dict[str, Any]:
    response: dict[str, Any] = {"description": _ERRORS[status], "content": {PROBLEM_JSON: {"schema": _ref("Problem")}}}
    if status == 429:
        retry = {"description": "Seconds to wait before trying again.", "schema": {"type": "integer"}}
        response["headers"] = {"Retry-After": retry, **_rate_limit_headers()}
    return response


def _idempotency_parameter() -> dict[str, Any]:
    return {
        "name": "Idempotency-Key",
        "in": "header",
        "required": True,
        "description": "Unique per intended payment; a retry with the same key and body replays the first answer.",
        "schema": {"type": "string", "minLength": 1, "maxLength": MAX_KEY_LENGTH, "pattern": "^[!-~]+$"},
    }


def _complete_operation(operation: dict[str, Any], spec: tuple[str | None, int, str, tuple[int, ...]]) -> None:
    request_schema, success, success_schema, errors = spec
    operation["security"] = [{name: [] for name in _SECURITY_SCHEMES}]
    described = _SUCCESS_DESCRIPTIONS.get(operation.get("operationId", ""))
    success_response: dict[str, Any] = {
        "description": described or ("Accepted" if request_schema else "The payment"),
        "content": {"application/json": {"schema": _ref(success_schema)}},
        "headers": _rate_limit_headers(),
    }
    if request_schema is not None:
        params = [p for p in operation.get("parameters", []) if p.get("name") != "Idempotency-Key"]
        operation["parameters"] = [*params, _idempotency_parameter()]
        operation["requestBody"] = {"required": True, "content": {"application/json": {"schema": _ref(request_schema)}}}
        success_response["headers"] = {
            **success_response["headers"],
            REPLAYED_HEADER: {
                "description": "`true` when this is the stored answer to an earlier request with the same key.",
                "schema": {"type": "string", "enum": ["true"]},
            },
        }
    operation["responses"] = {str(success): success_response, **{str(s): _problem_response(s) for s in errors}}


def _text_response(description: str) -> dict[str, Any]:
    return {"description": description, "content": {"text/plain": {"schema": {"type": "string"}}}}


def _liveness_response() -> dict[str, Any]:
    schema = {
        "type": "object",
        "properties": {"status": {"type": "string", "enum": ["ok"]}},
        "required": ["status"],
    }
    return {"description": "The process is alive.", "content": {"application/json": {"schema": schema}}}


def complete_document(generated: dict[str, Any], rails: RailRegistry) -> dict[str, Any]:
    """Litestar's generated document plus everything it cannot infer (see module docstring)."""
    document = copy.deepcopy(generated)
    components = document.setdefault("components", {})
    schemas = components.setdefault("schemas", {})
    _, shared = msgspec.json.schema_components(
        [
            PayRequest,
            CollectRequest,
            PaymentHeader,
            AcceptedView,
            StatusView,
            LedgerHeadView,
            RailsView,
            Problem,
            RefundRequest,
            RefundView,
            RefundDetailView,
        ],
        ref_template=_REF,
    )
    schemas.update(shared)
    schemas["PaymentRequest"] = _payment_request(rails, schemas)
    _add_public_fields(rails, schemas)
    components["securitySchemes"] = {
        name: {"type": "apiKey", "in": "header", "name": header, "description": description}
        for name, (header, description) in _SECURITY_SCHEMES.items()
    }
    for path_item in document.get("paths", {}).values():
        for operation in path_item.values():
            if not isinstance(operation, dict):
                continue
            spec = _OPERATIONS.get(operation.get("operationId", ""))
            if spec is not None:
                _complete_operation(operation, spec)
            elif operation.get("operationId") == "liveness":
                operation["responses"] = {"200": _liveness_response()}
            elif operation.get("operationId") == "readiness":
                operation["responses"] = {
                    "200": _text_response("Every dependency answers."),
                    "503": _text_response("Names the dependencies that do not answer."),
                }
    security: list[dict[str, list[str]]] = [{name: [] for name in _SECURITY_SCHEMES}]
    complete_webhook_operations(document, _problem_response, _idempotency_parameter, security)  # issue 12
    return document


class ApiDocument:
    """Completes the generated document once and keeps it (the routes never change after startup)."""

    def __init__(self, rails: RailRegistry) -> None:
        self._rails = rails
        self._document: dict[str, Any] | None = None
        self._lock = threading.Lock()

    def get(self, generated: Callable[[], dict[str, Any]]) -> dict[str, Any]:
        if self._document is None:
            with self._lock:
                if self._document is None:
                    self._document = complete_document(generated(), self._rails)
        return self._document


class CompletedJsonPlugin(JsonRenderPlugin):
    """Serves ``/schema/openapi.json`` from the completed document."""

    def __init__(self, document: ApiDocument) -> None:
        super().__init__()
        self._document = document

    def render(self, request: Request[Any, Any, Any], openapi_schema: dict[str, Any]) -> bytes:
        return self.render_json(request, self._document.get(lambda: openapi_schema))


class OfflineSwaggerPlugin(SwaggerRenderPlugin):
    """Swagger UI from the locally served ``swagger_ui_bundle`` assets, with the completed document."""

    def __init__(self, document: ApiDocument, path: str = "/swagger") -> None:
        super().__init__(
            js_url=f"{SWAGGER_ASSETS}/swagger-ui-bundle.js",
            css_url=f"{SWAGGER_ASSETS}/swagger-ui.css",
            standalone_preset_js_url=f"{SWAGGER_ASSETS}/swagger-ui-standalone-preset.js",
            favicon=f"<link rel='icon' type='image/png' href='{SWAGGER_ASSETS}/favicon-32x32.png'>",
            path=path,
        )
        self._document = document

    def render(self, request: Request[Any, Any, Any], openapi_schema: dict[str, Any]) -> bytes:
        return self.render_page(request, lambda: openapi_schema)

    def render_page(self, request: Request[Any, Any, Any], generated: Callable[[], dict[str, Any]]) -> bytes:
        page = super().render(request, self._document.get(generated))
        # No call to the public validator service: the page must work without internet.
        return page.replace(b"dom_id: '#swagger-container',", b"dom_id: '#swagger-container', validatorUrl: null,", 1)


def openapi_config(document: ApiDocument, swagger: OfflineSwaggerPlugin, version: str) -> OpenAPIConfig:
    return OpenAPIConfig(
        title="FlossPay API",
        version=version,
        description="Signed (HMAC) and idempotent payment intake; errors are RFC 9457 problem documents.",
        path=SCHEMA_PATH,
        render_plugins=[CompletedJsonPlugin(document), swagger],
    )


def swagger_routes(swagger: OfflineSwaggerPlugin) -> list[Any]:
    """``/swagger-ui.html`` and its assets, all served by this app (no CDN)."""

    @get(SWAGGER_PAGE, media_type=MediaType.HTML, sync_to_thread=False, include_in_schema=False)
    def swagger_page(request: Request[Any, Any, Any]) -> Response[bytes]:
        page = swagger.render_page(request, lambda: request.app.openapi_schema.to_schema())
        policy = swagger_policy(page.decode())
        return Response(page, media_type=MediaType.HTML, headers={"Content-Security-Policy": policy})

    assets: Router = create_static_files_router(
        path=SWAGGER_ASSETS, directories=[swagger_ui_path], include_in_schema=False, name="swagger-assets"
    )
    return [swagger_page, assets]
