"""A client generated from the served OpenAPI document reads what the server really answers, typed.

openapi-python-client (a dev dependency) generates the client; a card payment's answer must come
out with ``card.last4`` as an attribute of a generated class, nothing left in
``additional_properties``, and the history's ``to`` required.
"""

from __future__ import annotations

import importlib
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from litestar.testing import TestClient

from flosspay.adapters.cli.signing import signed_headers
from flosspay.adapters.config import Settings, load_settings
from flosspay.adapters.container import Container
from flosspay.adapters.http.app import create_app
from flosspay.adapters.persistence.migrate import upgrade
from flosspay.adapters.rails import RailLoader
from flosspay.application.clients import create_client

pytestmark = [pytest.mark.integration, pytest.mark.slow]

GENERATOR = Path(sys.executable).parent / "openapi-python-client"
CARD = {
    "method": "CARD",
    "amount": "499.00",
    "card": {"number": "4111111111111111", "expiryMonth": 12, "expiryYear": 2030, "cvv": "123"},
}


def test_a_generated_client_types_every_field_of_a_card_payment(tmp_path: Path) -> None:
    if not GENERATOR.exists():
        pytest.fail("openapi-python-client is a dev dependency: python3 scripts/dev.py setup installs it")
    sandbox = RailLoader().sandbox("card", {})  # the card rail tokenises at intake
    assert sandbox is not None
    unreachable = "http://127.0.0.1:9"  # the others are not called when a payment is accepted
    settings = load_settings(
        {
            "FLOSSPAY_DATA_DIR": str(tmp_path / "data"),
            "FLOSSPAY_UPI_PSP_URL": unreachable,
            "FLOSSPAY_WALLET_PSP_URL": unreachable,
            "FLOSSPAY_CARD_PSP_URL": sandbox.start("127.0.0.1", 0),
        }
    )
    try:
        _check(tmp_path, settings)
    finally:
        sandbox.stop()


def _check(tmp_path: Path, settings: Settings) -> None:
    upgrade(settings.database.url)
    container = Container(settings=settings)
    client = create_client("acme", uow_factory=container.uow_factory(), clock=container.clock())
    with TestClient(create_app(container.api_services())) as http:
        document = http.get("/schema/openapi.json").json()
        raw = json.dumps(CARD).encode()
        headers = signed_headers(
            client_id=client.client_id,
            secret=client.secret,
            method="POST",
            path="/api/v1/payments",
            body=raw,
            idempotency_key="oa-1",
        )
        accepted = http.post("/api/v1/payments", content=raw, headers={**headers, "Content-Type": "application/json"})
        assert accepted.status_code == 200, accepted.text
        path = f"/api/v1/transaction/{accepted.json()['id']}/status"
        status_headers = signed_headers(
            client_id=client.client_id, secret=client.secret, method="GET", path=path, body=b""
        )
        status = http.get(path, headers=status_headers).json()

    assert document["components"]["schemas"]["WALLET_WalletDetails"]["properties"]["provider"]["enum"] == [
        "amazonpay",
        "mobikwik",
        "paytm",
        "phonepe",
    ]
    spec = tmp_path / "openapi.json"
    spec.write_text(json.dumps(document))
    out = tmp_path / "generated"
    done = subprocess.run(
        [str(GENERATOR), "generate", "--path", str(spec), "--output-path", str(out), "--meta", "none"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    package = out.name
    sys.path.insert(0, str(out.parent))
    try:
        models = importlib.import_module(f"{package}.models")
        view = models.AcceptedView.from_dict(accepted.json())
        assert type(view.card).__module__.startswith(f"{package}.models.")  # a generated class, not a dict
        assert view.card.last4 == "1111" and str(view.card.scheme.value) == "visa"
        assert view.additional_properties == {}
        assert view.card.additional_properties == {}
        full = models.StatusView.from_dict(status)
        assert full.card.last4 == "1111" and full.additional_properties == {}
        assert full.history[0].to.value == "QUEUED"
        assert "to" in document["components"]["schemas"]["HistoryView"]["required"]
    finally:
        sys.path.remove(str(out.parent))
        for name in [m for m in sys.modules if m == package or m.startswith(package + ".")]:
            del sys.modules[name]
        shutil.rmtree(out, ignore_errors=True)
