"""The webhook endpoints API over a real SQLite database: CRUD per client, secrets shown once,
rotation, idempotency, problem+json, SSRF refusals, and the delivery log with redelivery."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from http_api_support import (
    OTHER_CLIENT_ID,
    OTHER_CLIENT_SECRET,
    SignedClient,
    as_sent,
    assert_problem,
    field_errors,
    signed_headers,
    webhook_api,
)

pytestmark = pytest.mark.integration

PUBLIC = "https://hooks.example.com/flosspay"


@pytest.fixture
def hooks(tmp_path: Path) -> Iterator[SignedClient]:
    with webhook_api(tmp_path / "api.db") as api:
        yield api


def _create(api: SignedClient, key: str = "ep-1", **body: object) -> dict[str, object]:
    response = api.post("/api/v1/webhook-endpoints", {"url": PUBLIC, **body}, key=key)
    assert response.status_code == 201, response.text
    return dict(response.json())


def test_create_shows_the_secret_once_and_never_again(hooks: SignedClient) -> None:
    created = _create(hooks, description="shop")
    assert str(created["id"]).startswith("ep_")
    assert str(created["secret"]).startswith("whsec_")
    assert created["events"] == [
        "payment.completed",
        "payment.failed",
        "payment.declined",
        "payment.expired",
        "payment.action_required",
        "refund.succeeded",
        "refund.failed",
    ]
    assert created["enabled"] is True and created["url"] == PUBLIC and "createdAt" in created
    listed = hooks.get("/api/v1/webhook-endpoints").json()
    assert [e["id"] for e in listed] == [created["id"]]
    one = hooks.get(f"/api/v1/webhook-endpoints/{created['id']}")
    assert one.status_code == 200
    for response_text in (one.text, str(listed)):
        assert "secret" not in response_text and str(created["secret"]) not in response_text


def test_a_replayed_create_returns_the_first_answer_and_stores_one_endpoint(hooks: SignedClient) -> None:
    first = hooks.post("/api/v1/webhook-endpoints", {"url": PUBLIC}, key="same")
    again = hooks.post("/api/v1/webhook-endpoints", {"url": PUBLIC}, key="same")
    assert again.status_code == 201 and again.json() == first.json()
    assert again.headers["Idempotent-Replayed"] == "true"
    assert len(hooks.get("/api/v1/webhook-endpoints").json()) == 1
    other = hooks.post("/api/v1/webhook-endpoints", {"url": PUBLIC + "/x"}, key="same")
    assert_problem(other, 409)


def test_posts_need_a_key_json_and_a_valid_body(hooks: SignedClient) -> None:
    assert_problem(hooks.post("/api/v1/webhook-endpoints", {"url": PUBLIC}, key=None), 400)
    assert_problem(hooks.post("/api/v1/webhook-endpoints", raw=b"url=x", content_type="text/plain"), 415)
    problem = assert_problem(hooks.post("/api/v1/webhook-endpoints", {"url": PUBLIC, "events": ["nope"]}), 400)
    assert "events[0]" in field_errors(problem)
    problem = assert_problem(hooks.post("/api/v1/webhook-endpoints", {"url": PUBLIC, "colour": "red"}), 400)
    assert "colour" in field_errors(problem)
    assert hooks.get("/api/v1/webhook-endpoints").json() == []


@pytest.mark.parametrize(
    "url",
    [
        "http://hooks.example.com/x",  # https required
        "https://127.0.0.1/x",
        "https://169.254.169.254/latest/meta-data",
        "https://rebind.example.com/x",  # a name resolving to a private address
        "https://nowhere.example.com/x",  # does not resolve
    ],
)
def test_unsafe_urls_are_refused_at_registration(hooks: SignedClient, url: str) -> None:
    problem = assert_problem(hooks.post("/api/v1/webhook-endpoints", {"url": url}, key=f"k-{uuid.uuid4()}"), 400)
    assert "url" in field_errors(problem)


def test_another_clients_endpoint_is_404_everywhere(hooks: SignedClient) -> None:
    created = _create(hooks)
    path = f"/api/v1/webhook-endpoints/{created['id']}"
    other = {"client_id": OTHER_CLIENT_ID, "secret": OTHER_CLIENT_SECRET}
    assert_problem(hooks.get(path, **other), 404)
    assert_problem(hooks.post(path + "/rotate-secret", {}, key="r", **other), 404)
    assert hooks.get("/api/v1/webhook-endpoints", **other).json() == []
    # PATCH and DELETE, signed by hand (SignedClient only posts and gets).
    body = b'{"enabled": false}'
    h = signed_headers(
        "PATCH", as_sent(path), body, timestamp=hooks.now(), client_id=OTHER_CLIENT_ID, secret=OTHER_CLIENT_SECRET
    )
    assert_problem(hooks.http.patch(path, content=body, headers={**h, "content-type": "application/json"}), 404)
    h = signed_headers(
        "DELETE", as_sent(path), timestamp=hooks.now(), client_id=OTHER_CLIENT_ID, secret=OTHER_CLIENT_SECRET
    )
    assert_problem(hooks.http.delete(path, headers=h), 404)
    assert hooks.get(path).status_code == 200  # untouched


def test_patch_delete_and_rotate(hooks: SignedClient) -> None:
    created = _create(hooks)
    path = f"/api/v1/webhook-endpoints/{created['id']}"
    body = b'{"enabled": false, "events": ["payment.failed"], "description": "only failures"}'
    h = signed_headers("PATCH", as_sent(path), body, timestamp=hooks.now())
    patched = hooks.http.patch(path, content=body, headers={**h, "content-type": "application/json"})
    assert patched.status_code == 200, patched.text
    assert patched.json()["enabled"] is False and patched.json()["events"] == ["payment.failed"]
    assert "secret" not in patched.text

    rotated = hooks.post(path + "/rotate-secret", None, raw=b"", key="rot-1")
    assert rotated.status_code == 200, rotated.text
    new_secret = rotated.json()["secret"]
    assert new_secret.startswith("whsec_") and new_secret != created["secret"]
    assert "previousSecretExpiresAt" in rotated.json()
    world = hooks.world
    with world.uow_factory() as uow:
        endpoint = uow.webhooks.get_endpoint("cl_alpha", str(created["id"]))
    assert endpoint.signing_secrets(world.clock.now()) == [new_secret, created["secret"]]

    h = signed_headers("DELETE", as_sent(path), timestamp=hooks.now())
    assert hooks.http.delete(path, headers=h).status_code == 204
    assert_problem(hooks.get(path), 404)


def test_the_delivery_log_and_redelivery(hooks: SignedClient) -> None:
    from flosspay.domain.webhooks import EventType, WebhookEvent

    created = _create(hooks)
    world = hooks.world
    payment_id = uuid.uuid4()
    with world.uow_factory() as uow:
        made = uow.webhooks.add_event(
            WebhookEvent(
                id="msg_test1",
                client_id="cl_alpha",
                payment_id=payment_id,
                type=EventType.PAYMENT_COMPLETED,
                created_at=world.clock.now(),
                payload=b'{"type":"payment.completed"}',
            )
        )
        uow.commit()
    assert made == 1
    events = hooks.get(f"/api/v1/webhook-events?paymentId={payment_id}").json()
    assert [e["id"] for e in events] == ["msg_test1"]
    assert events[0]["deliveries"][0]["endpointId"] == created["id"]
    assert events[0]["deliveries"][0]["status"] == "PENDING"
    assert hooks.get(f"/api/v1/webhook-events?paymentId={uuid.uuid4()}").json() == []
    assert_problem(hooks.get("/api/v1/webhook-events?paymentId=nope"), 400)
    assert hooks.get("/api/v1/webhook-events/msg_test1/attempts").json() == []
    other = {"client_id": OTHER_CLIENT_ID, "secret": OTHER_CLIENT_SECRET}
    assert_problem(hooks.get("/api/v1/webhook-events/msg_test1/attempts", **other), 404)
    assert_problem(hooks.post("/api/v1/webhook-events/msg_test1/redeliver", {}, key="rd", **other), 404)
    redelivered = hooks.post("/api/v1/webhook-events/msg_test1/redeliver", {}, key="rd")
    assert redelivered.status_code == 202 and redelivered.json() == {"id": "msg_test1", "scheduledDeliveries": 1}


def test_the_openapi_document_describes_the_webhook_operations(hooks: SignedClient) -> None:
    document = hooks.http.get("/schema/openapi.json").json()
    operations = {
        op["operationId"]: op for item in document["paths"].values() for op in item.values() if isinstance(op, dict)
    }
    create = operations["createWebhookEndpoint"]
    assert create["responses"]["201"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/EndpointView"
    }
    assert any(p["name"] == "Idempotency-Key" for p in create["parameters"])
    assert "409" in create["responses"] and "404" in operations["getWebhookEndpoint"]["responses"]
    assert (
        operations["listWebhookAttempts"]["responses"]["200"]["content"]["application/json"]["schema"]["type"]
        == "array"
    )
    assert "204" in operations["deleteWebhookEndpoint"]["responses"]
    assert "EndpointView" in document["components"]["schemas"]
