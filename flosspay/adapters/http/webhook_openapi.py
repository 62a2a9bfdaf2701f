"""The webhook operations' part of the OpenAPI document: bodies, answers and errors Litestar cannot infer
from handlers that read raw bodies (called once by ``openapi.complete_document``)."""

from __future__ import annotations

from typing import Any

import msgspec

from flosspay.adapters.http.webhook_views import AttemptView, EndpointView, EventView
from flosspay.domain.webhooks import ALL_EVENT_TYPES

_REF = "#/components/schemas/{name}"


class WebhookEndpointCreate(msgspec.Struct, forbid_unknown_fields=True):
    url: str
    events: list[str] | None = None
    description: str | None = None


class WebhookEndpointPatch(msgspec.Struct, forbid_unknown_fields=True):
    url: str | None = None
    events: list[str] | None = None
    description: str | None = None
    enabled: bool | None = None


class RedeliveryView(msgspec.Struct, rename="camel"):
    id: str
    scheduled_deliveries: int


def _ref(name: str) -> dict[str, str]:
    return {"$ref": _REF.format(name=name)}


def _array(name: str) -> dict[str, Any]:
    return {"type": "array", "items": _ref(name)}


_POST = (400, 401, 404, 409, 413, 415, 500, 503)
_GET = (400, 401, 404, 500, 503)
# operationId: (request schema or None, optional body, success status, success schema or None, errors)
_WEBHOOK_OPERATIONS: dict[str, tuple[str | None, bool, int, dict[str, Any] | None, tuple[int, ...]]] = {
    "createWebhookEndpoint": ("WebhookEndpointCreate", False, 201, _ref("EndpointView"), _POST),
    "listWebhookEndpoints": (None, False, 200, _array("EndpointView"), _GET),
    "getWebhookEndpoint": (None, False, 200, _ref("EndpointView"), _GET),
    "updateWebhookEndpoint": ("WebhookEndpointPatch", False, 200, _ref("EndpointView"), (*_GET, 413, 415)),
    "deleteWebhookEndpoint": (None, False, 204, None, _GET),
    "rotateWebhookSecret": (None, True, 200, _ref("EndpointView"), _POST),
    "listWebhookEvents": (None, False, 200, _array("EventView"), _GET),
    "listWebhookAttempts": (None, False, 200, _array("AttemptView"), _GET),
    "redeliverWebhookEvent": (None, True, 202, _ref("RedeliveryView"), _POST),
}


def complete_webhook_operations(
    document: dict[str, Any],
    problem_response: Any,
    idempotency_parameter: Any,
    security: list[dict[str, list[str]]],
) -> None:
    schemas = document.setdefault("components", {}).setdefault("schemas", {})
    _, shared = msgspec.json.schema_components(
        [WebhookEndpointCreate, WebhookEndpointPatch, EndpointView, EventView, AttemptView, RedeliveryView],
        ref_template=_REF,
    )
    schemas.update(shared)
    events = schemas["WebhookEndpointCreate"]["properties"]["events"]
    events["anyOf"][0]["items"] = {"type": "string", "enum": [e.value for e in ALL_EVENT_TYPES]}
    for path_item in document.get("paths", {}).values():
        for operation in path_item.values():
            if not isinstance(operation, dict):
                continue
            spec = _WEBHOOK_OPERATIONS.get(operation.get("operationId", ""))
            if spec is None:
                continue
            request_schema, optional_body, success, success_schema, errors = spec
            operation["security"] = security
            if request_schema is not None or optional_body:
                schema = _ref(request_schema) if request_schema else {"type": "object", "maxProperties": 0}
                operation["requestBody"] = {
                    "required": not optional_body,
                    "content": {"application/json": {"schema": schema}},
                }
            if success in (201, 202) or optional_body:
                params = [p for p in operation.get("parameters", []) if p.get("name") != "Idempotency-Key"]
                operation["parameters"] = [*params, idempotency_parameter()]
            ok: dict[str, Any] = {"description": operation.get("summary", "OK")}
            if success_schema is not None:
                ok["content"] = {"application/json": {"schema": success_schema}}
            operation["responses"] = {str(success): ok, **{str(s): problem_response(s) for s in errors}}
