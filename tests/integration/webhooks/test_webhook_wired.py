"""The composition root wired end to end: API + embedded worker + webhook loop, over SQLite.

A merchant registers an endpoint and pays over HTTP; the worker completes the payment, and the
receiver gets a webhook the official ``standardwebhooks`` package verifies.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
import standardwebhooks
from dependency_injector import providers
from litestar.testing import TestClient

from flosspay.adapters.config import load_settings
from flosspay.adapters.container import Container
from flosspay.adapters.http import create_app
from flosspay.adapters.http.signature import canonical_request, sign
from flosspay.adapters.persistence.migrate import upgrade
from flosspay.adapters.worker.runner import EmbeddedWorker
from flosspay.application.clients import create_client
from tests.fakes import FakeRail, FakeRailRegistry
from tests.integration.webhooks.receiver import Receiver

pytestmark = pytest.mark.integration


def _post(http: TestClient, path: str, body: dict[str, object], client_id: str, secret: str, key: str):  # type: ignore[no-untyped-def,type-arg]
    raw = json.dumps(body).encode()
    ts = str(int(time.time()))
    headers = {
        "X-Client-Id": client_id,
        "X-Timestamp": ts,
        "X-HMAC": sign(secret, canonical_request("POST", path, ts, key, raw)),
        "Idempotency-Key": key,
        "Content-Type": "application/json",
    }
    return http.post(path, content=raw, headers=headers)


def _get(http: TestClient, path: str, client_id: str, secret: str):  # type: ignore[no-untyped-def,type-arg]
    ts = str(int(time.time()))
    headers = {
        "X-Client-Id": client_id,
        "X-Timestamp": ts,
        "X-HMAC": sign(secret, canonical_request("GET", path, ts, "", b"")),
    }
    return http.get(path, headers=headers)


def test_pay_over_http_and_the_worker_delivers_the_webhook(tmp_path: Path, receiver: Receiver) -> None:
    settings = load_settings(
        {
            "FLOSSPAY_DATA_DIR": str(tmp_path / "data"),
            "FLOSSPAY_WEBHOOK_ALLOW_PRIVATE_URLS": "true",
            "FLOSSPAY_WEBHOOK_POLL_SECONDS": "0.05",
            "FLOSSPAY_RELAY_INTERVAL_SECONDS": "0.05",
        }
    )
    upgrade(settings.database.url)
    container = Container(settings=settings)
    container.rails.override(providers.Object(FakeRailRegistry(FakeRail())))
    client = create_client("acme", uow_factory=container.uow_factory(), clock=container.clock())
    worker = EmbeddedWorker(
        container.worker_services(),
        container.broker(),
        threads=2,
        chainer=container.chainer(),
        webhooks=container.webhook_delivery(),
    )
    worker.start()
    try:
        with TestClient(create_app(container.api_services())) as http:
            created = _post(
                http, "/api/v1/webhook-endpoints", {"url": receiver.url}, client.client_id, client.secret, "e1"
            )
            assert created.status_code == 201, created.text
            secret = created.json()["secret"]
            paid = _post(
                http,
                "/api/v1/pay",
                {"senderUpi": "alice@okbank", "receiverUpi": "shop@okaxis", "amount": "28.00"},
                client.client_id,
                client.secret,
                "p1",
            )
            assert paid.status_code == 200, paid.text
            payment_id = paid.json()["id"]
            (got,) = receiver.wait_for(1, timeout=30)
            event = standardwebhooks.Webhook(secret).verify(got.body, got.headers)
            assert event["type"] == "payment.completed"
            assert event["data"]["id"] == payment_id and event["data"]["status"] == "COMPLETED"
            status = _get(http, f"/api/v1/transaction/{payment_id}/status", client.client_id, client.secret).json()
            assert event["data"] == status
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline:
                log = _get(http, f"/api/v1/webhook-events?paymentId={payment_id}", client.client_id, client.secret)
                if log.json()[0]["deliveries"][0]["status"] == "DELIVERED":
                    break
                time.sleep(0.05)
            assert log.json()[0]["id"] == got.headers["webhook-id"]
            assert log.json()[0]["deliveries"][0]["status"] == "DELIVERED"
            attempts = _get(
                http, f"/api/v1/webhook-events/{got.headers['webhook-id']}/attempts", client.client_id, client.secret
            )
            assert [a["responseStatus"] for a in attempts.json()] == [200]
    finally:
        worker.stop()
        container.engine().dispose()
