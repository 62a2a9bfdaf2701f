"""The production path's failure modes: a rail that cannot start is visible in readiness and in /pay's answer.

Real container, real rail plugins, SQLite: exactly what ``flosspay api`` builds, minus uvicorn.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from litestar.testing import TestClient

from flosspay.adapters.cli.signing import signed_headers
from flosspay.adapters.config import load_settings
from flosspay.adapters.container import Container
from flosspay.adapters.http.app import create_app
from flosspay.adapters.persistence.migrate import upgrade
from flosspay.application.clients import create_client

pytestmark = pytest.mark.integration

PAY = {"senderUpi": "alice@upi", "receiverUpi": "bob@upi", "amount": "28.00"}


class Api:
    def __init__(self, http: TestClient, client_id: str, secret: str) -> None:
        self.http, self.client_id, self.secret = http, client_id, secret

    def post(self, path: str, body: dict[str, object], key: str = "k-1") -> object:
        raw = json.dumps(body).encode()
        headers = signed_headers(
            client_id=self.client_id, secret=self.secret, method="POST", path=path, body=raw, idempotency_key=key
        )
        return self.http.post(path, content=raw, headers={**headers, "Content-Type": "application/json"})


@pytest.fixture
def make_api(tmp_path: Path) -> Iterator[object]:
    opened: list[TestClient] = []

    def build(**env: str) -> Api:
        settings = load_settings({"FLOSSPAY_DATA_DIR": str(tmp_path / "data"), **env})
        upgrade(settings.database.url)
        container = Container(settings=settings)
        client = create_client("acme", uow_factory=container.uow_factory(), clock=container.clock())
        http = TestClient(create_app(container.api_services()))
        http.__enter__()
        opened.append(http)
        return Api(http, client.client_id, client.secret)

    yield build
    for http in opened:
        http.__exit__(None, None, None)


def test_a_rail_missing_its_psp_url_makes_readiness_fail_naming_it(make_api) -> None:
    api = make_api(FLOSSPAY_CARD_PSP_URL="http://127.0.0.1:9", FLOSSPAY_WALLET_PSP_URL="http://127.0.0.1:9")
    response = api.http.get("/health/ready")
    assert response.status_code == 503
    assert "rail upi" in response.text
    assert "card" not in response.text and "wallet" not in response.text


def test_pay_with_upi_not_running_says_so_and_why(make_api) -> None:
    api = make_api(FLOSSPAY_CARD_PSP_URL="http://127.0.0.1:9", FLOSSPAY_WALLET_PSP_URL="http://127.0.0.1:9")
    response = api.post("/api/v1/pay", PAY)
    assert response.status_code == 503
    problem = response.json()
    assert problem["detail"].startswith("the UPI rail is not enabled here: it failed to start:")
    assert "FLOSSPAY_UPI_PSP_URL" in problem["detail"]
    assert "method" not in problem["detail"] and "errors" not in problem  # /pay has no method field
    collect = api.post("/api/v1/collect", PAY, key="k-2")
    assert collect.status_code == 503 and "the UPI rail is not enabled here" in collect.json()["detail"]


def test_pay_with_upi_left_out_of_the_enabled_rails_says_which_setting(make_api) -> None:
    api = make_api(FLOSSPAY_RAILS="card", FLOSSPAY_CARD_PSP_URL="http://127.0.0.1:9")
    assert api.http.get("/health/ready").status_code == 200  # leaving a rail out on purpose is not a failure
    detail = api.post("/api/v1/pay", PAY).json()["detail"]
    assert detail == "the UPI rail is not enabled here: FLOSSPAY_RAILS does not include upi"


def test_readiness_fails_when_no_rail_runs_at_all(make_api) -> None:
    api = make_api()  # no PSP URL for any rail
    text = api.http.get("/health/ready").text
    assert all(f"rail {name}" in text for name in ("upi", "card", "wallet")), text
    nothing = make_api(FLOSSPAY_RAILS="nosuch")
    text = nothing.http.get("/health/ready").text
    assert nothing.http.get("/health/ready").status_code == 503 and "rail nosuch" in text


def test_liveness_is_json(make_api) -> None:
    api = make_api()
    response = api.http.get("/health")
    assert response.status_code == 200 and response.json() == {"status": "ok"}
