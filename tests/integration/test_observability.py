"""Request ids and Prometheus metrics, on the real app (container, rails, SQLite) in one process."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from litestar.testing import TestClient
from prometheus_client.parser import text_string_to_metric_families

from flosspay.adapters.cli.signing import signed_headers
from flosspay.adapters.config import load_settings
from flosspay.adapters.container import Container, watch_database_metrics
from flosspay.adapters.http.app import create_app
from flosspay.adapters.persistence.migrate import upgrade
from flosspay.adapters.persistence.tables import outbox
from flosspay.adapters.rails import RailLoader
from flosspay.application.breakers import BreakerPolicy, CircuitBreakers
from flosspay.application.clients import create_client
from flosspay.domain.breaker import BreakerConfig, BreakerState
from flosspay.domain.rail import Outcome
from tests.fakes import FakeClock

pytestmark = pytest.mark.integration
PAY = {"senderUpi": "alice@upi", "receiverUpi": "bob@upi", "amount": "28.00"}


@pytest.fixture
def world(tmp_path: Path) -> Iterator[tuple[TestClient, Container, object]]:
    sandbox = RailLoader().sandbox("upi", {})
    assert sandbox is not None
    env = {"FLOSSPAY_DATA_DIR": str(tmp_path / "data"), "FLOSSPAY_RAILS": "upi"}
    env["FLOSSPAY_UPI_PSP_URL"] = sandbox.start("127.0.0.1", 0)
    settings = load_settings(env)
    upgrade(settings.database.url)
    container = Container(settings=settings)
    watch_database_metrics(container)
    client = create_client("acme", uow_factory=container.uow_factory(), clock=container.clock())
    try:
        with TestClient(create_app(container.api_services())) as http:
            yield http, container, client
    finally:
        sandbox.stop()


def pay(http: TestClient, client: object, key: str, headers: dict[str, str] | None = None):  # type: ignore[no-untyped-def]
    raw = json.dumps(PAY).encode()
    signed = signed_headers(
        client_id=client.client_id,  # type: ignore[attr-defined]
        secret=client.secret,  # type: ignore[attr-defined]
        method="POST",
        path="/api/v1/pay",
        body=raw,
        idempotency_key=key,
    )
    return http.post(
        "/api/v1/pay", content=raw, headers={**signed, "Content-Type": "application/json", **(headers or {})}
    )


def test_the_request_id_is_taken_from_the_client_or_made_and_always_returned(world) -> None:
    http, container, client = world
    accepted = pay(http, client, "k-1", {"X-Request-Id": "order-1001.attempt-1"})
    assert accepted.status_code == 200 and accepted.headers["X-Request-Id"] == "order-1001.attempt-1"
    for response in (http.get("/health"), http.get("/no/such/route"), pay(http, client, "k-2")):
        assert re.fullmatch(r"[0-9a-f]{32}", response.headers["X-Request-Id"]), response.headers
    refused = pay(http, client, "k-3", {"X-Request-Id": "x" * 129})  # not a sane token: replaced
    assert re.fullmatch(r"[0-9a-f]{32}", refused.headers["X-Request-Id"])
    with container.engine().connect() as connection:
        rows = connection.execute(outbox.select().order_by(outbox.c.id)).mappings().all()
    assert rows[0]["request_id"] == "order-1001.attempt-1"  # carried to the worker through the outbox
    assert re.fullmatch(r"[0-9a-f]{32}", rows[1]["request_id"])  # a generated one is carried too


def _samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def test_metrics_are_served_without_authentication_and_count_what_happened(world) -> None:
    http, _, client = world
    assert pay(http, client, "m-1").status_code == 200
    assert pay(http, client, "m-1").headers["Idempotent-Replayed"] == "true"  # a replay is not a new payment
    response = http.get("/metrics")
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/plain")
    samples = _samples(response.text)
    route = (("method", "POST"), ("route", "/api/v1/pay"), ("status", "200"))
    assert samples[("flosspay_http_request_duration_seconds_count", route)] >= 2
    assert samples[("flosspay_payments_created_total", (("rail", "upi"),))] >= 1
    assert samples[("flosspay_outbox_backlog", ())] == 1.0  # no worker here: the payment waits
    assert samples[("flosspay_outbox_oldest_age_seconds", ())] >= 0
    assert samples[("flosspay_chain_lag", ())] >= 1  # its QUEUED history row is not chained yet
    assert all(name.startswith(("flosspay_", "python_", "process_")) for name, _ in samples)


def test_the_metrics_path_is_configurable_and_can_be_turned_off(tmp_path: Path) -> None:
    for value, path, absent in (("/internal/metrics", "/internal/metrics", "/metrics"), ("off", None, "/metrics")):
        settings = load_settings(
            {"FLOSSPAY_DATA_DIR": str(tmp_path / value.strip("/")), "FLOSSPAY_METRICS_PATH": value}
        )
        container = Container(settings=settings)
        with TestClient(create_app(container.api_services())) as http:
            if path:
                assert http.get(path).status_code == 200
            assert http.get(absent).status_code == 404


def test_the_breaker_state_of_each_running_rail_is_exposed_and_follows_its_transitions(world) -> None:
    http, container, _ = world
    state = ("flosspay_breaker_state", (("rail", "upi"),))
    assert _samples(http.get("/metrics").text)[state] == 0.0  # closed, exposed from the start
    clock = FakeClock()
    config = BreakerConfig(failure_threshold=2, cool_down=timedelta(seconds=10))
    breakers = CircuitBreakers(container.breaker_store(), clock, BreakerPolicy(per_rail={"upi": config}))
    for _ in range(2):
        breakers.record("upi", breakers.acquire("upi"), Outcome.TRANSIENT)
    assert breakers.snapshot("upi").state is BreakerState.OPEN  # type: ignore[union-attr]
    assert _samples(http.get("/metrics").text)[state] == 2.0
    clock.advance(10)
    probe = breakers.acquire("upi")
    assert probe.probe and _samples(http.get("/metrics").text)[state] == 1.0  # half-open
    breakers.record("upi", probe, Outcome.COMPLETED)
    assert _samples(http.get("/metrics").text)[state] == 0.0
