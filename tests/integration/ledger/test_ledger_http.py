"""``GET /api/v1/ledger/head``: signed like the rest of /api/v1, documented, and showing the chain."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from litestar.testing import TestClient

from flosspay.application.ledger_chain import ChainPolicy, chain_all
from flosspay.domain.ledger import payment_entry_id
from tests.integration.http.http_api_support import SignedClient, World, pay_body

pytestmark = pytest.mark.integration


@pytest.fixture
def api() -> Iterator[SignedClient]:
    world = World()
    with TestClient(world.app()) as client:
        yield SignedClient(client, world)


def test_the_head_needs_a_signature_and_follows_the_chain(api: SignedClient) -> None:
    assert api.http.get("/api/v1/ledger/head").status_code == 401

    empty = api.get("/api/v1/ledger/head")
    assert empty.status_code == 200 and empty.headers["content-type"] == "application/json"
    assert empty.json() == {"seq": 0, "hash": "0" * 64, "chainedAt": None, "checkpoint": None}

    accepted = api.post("/api/v1/pay", pay_body())
    payment_id = accepted.json()["id"]
    api.world.process(payment_id)
    world = api.world
    chain_all(uow_factory=world.uow_factory, clock=world.clock, policy=ChainPolicy(checkpoint_every=3))

    head = api.get("/api/v1/ledger/head").json()
    store = world.store
    assert head["seq"] == 4 and head["hash"] == store.chain[-1].hash.hex()
    assert head["checkpoint"]["seq"] == 4 and head["checkpoint"]["signature"] is None
    status = api.get(f"/api/v1/transaction/{payment_id}/status").json()
    assert status["status"] == "COMPLETED" and status["ledgerEntryId"] == str(
        payment_entry_id(store.chain[0].payment_id)
    )


def test_the_head_is_in_the_openapi_document(api: SignedClient) -> None:
    document = api.http.get("/schema/openapi.json").json()
    operation = document["paths"]["/api/v1/ledger/head"]["get"]
    assert operation["operationId"] == "getLedgerHead"
    assert operation["security"] == [{"ClientId": [], "Timestamp": [], "Signature": []}]
    assert operation["responses"]["200"]["content"]["application/json"]["schema"]["$ref"].endswith("/LedgerHeadView")
    assert "404" not in operation["responses"] and "401" in operation["responses"]
    schema = document["components"]["schemas"]["LedgerHeadView"]
    assert set(schema["properties"]) == {"seq", "hash", "chainedAt", "checkpoint"}
