"""Liveness and readiness: plain text, no authentication, 503 naming what is down."""

from __future__ import annotations

import pytest
from http_api_support import SignedClient

pytestmark = pytest.mark.integration


def test_liveness_needs_no_authentication(api: SignedClient) -> None:
    response = api.http.get("/health")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/json")
    assert response.json() == {"status": "ok"}


def test_ready_when_every_dependency_answers(api: SignedClient) -> None:
    response = api.http.get("/health/ready")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    assert response.text.splitlines() == ["READY", "database: up", "broker: up", "dead letters: 0"]


def test_readiness_counts_dead_letters(api: SignedClient) -> None:
    api.world.health.dead_letters = 3
    response = api.http.get("/health/ready")
    assert response.status_code == 200
    assert "dead letters: 3" in response.text.splitlines()


@pytest.mark.parametrize(
    ("status", "named", "not_named"),
    [
        ({"database": False, "broker": True}, ["database"], ["broker"]),
        ({"database": True, "broker": False}, ["broker"], ["database"]),
        ({"database": False, "broker": False}, ["database", "broker"], []),
    ],
)
def test_not_ready_names_what_is_down(
    api: SignedClient, status: dict[str, bool], named: list[str], not_named: list[str]
) -> None:
    api.world.health.status = status
    response = api.http.get("/health/ready")
    assert response.status_code == 503
    assert response.headers["content-type"].startswith("text/plain")
    verdict, *details = response.text.splitlines()
    assert verdict.startswith("NOT READY")
    for name in named:
        assert name in verdict and f"{name}: down" in details
    for name in not_named:
        assert name not in verdict and f"{name}: up" in details


def test_a_failing_probe_means_not_ready_without_details(api: SignedClient) -> None:
    api.world.health.error = ConnectionError("10.0.0.5:5432 refused (password=hunter2)")
    response = api.http.get("/health/ready")
    assert response.status_code == 503
    assert "hunter2" not in response.text
    assert "10.0.0.5" not in response.text


def test_readiness_recovers(api: SignedClient) -> None:
    api.world.health.status = {"database": False, "broker": True}
    assert api.http.get("/health/ready").status_code == 503
    api.world.health.status = {"database": True, "broker": True}
    assert api.http.get("/health/ready").text.splitlines()[0] == "READY"
