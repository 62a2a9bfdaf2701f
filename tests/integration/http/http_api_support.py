"""Helpers for the HTTP API tests: an app over in-memory fakes and a client that signs like a merchant."""

from __future__ import annotations

import contextlib
import dataclasses
import json
import uuid
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import msgspec
from flosspay_upi.vpa import Vpa
from litestar import Litestar
from litestar.testing import TestClient

from flosspay.adapters.http import ApiServices, create_app
from flosspay.adapters.http.signature import canonical_request, sign
from flosspay.adapters.http.webhook_views import HTTP_WEBHOOK_ANSWERS
from flosspay.adapters.webhooks.resolver import url_vetter
from flosspay.application.policies import IntakePolicy, ProcessingPolicy
from flosspay.application.process import process_payment
from flosspay.application.webhook_endpoints import WebhookContext
from flosspay.domain.clients import ApiClient
from flosspay.domain.money import Money
from flosspay.domain.payment import Flow
from flosspay.domain.rail import PreparedPayment
from flosspay.domain.webhooks import WebhookPolicy
from tests.fakes import FakeClock, FakeRail, FakeRailRegistry, FakeUnitOfWorkFactory, Store

FINGERPRINT_KEY = b"test-fingerprint-key"
PROBLEM_JSON = "application/problem+json"
CLIENT_ID = "cl_alpha"
CLIENT_SECRET = "sk_alpha-very-secret-0123456789"
OTHER_CLIENT_ID = "cl_beta"
OTHER_CLIENT_SECRET = "sk_beta-also-secret-9876543210"
INACTIVE_CLIENT_ID = "cl_gone"
INACTIVE_CLIENT_SECRET = "sk_gone-inactive-secret-555"
SECRETS = (CLIENT_SECRET, OTHER_CLIENT_SECRET, INACTIVE_CLIENT_SECRET, FINGERPRINT_KEY.decode())


class VpaCheckingRail(FakeRail):
    """FakeRail plus UPI address checks, the way a real UPI rail validates its fields."""

    def prepare(self, fields: msgspec.Struct, amount: Money, flow: Flow) -> PreparedPayment:
        Vpa.parse(getattr(fields, "sender_upi", None), "senderUpi")
        Vpa.parse(getattr(fields, "receiver_upi", None), "receiverUpi")
        return super().prepare(fields, amount, flow)


class WalletHolder(msgspec.Struct, forbid_unknown_fields=True):
    name: str


class WalletFields(msgspec.Struct, forbid_unknown_fields=True, rename="camel"):
    wallet_id: str
    provider: str = "paytm"
    holder: WalletHolder | None = None  # a nested type, as card rails have


class FakeWalletRail(FakeRail):
    """A second rail, so the generic endpoint has more than one method to choose from."""

    name = "wallet"
    method = "WALLET"
    flows = frozenset({Flow.PAY})
    request_type = WalletFields

    def prepare(self, fields: msgspec.Struct, amount: Money, flow: Flow) -> PreparedPayment:
        assert isinstance(fields, WalletFields)
        return PreparedPayment({"walletId": fields.wallet_id}, {"provider": fields.provider})


class FakeHealth:
    def __init__(self, **status: bool) -> None:
        self.status = status or {"database": True, "broker": True}
        self.error: Exception | None = None
        self.dead_letters = 0

    def check(self) -> dict[str, bool]:
        if self.error is not None:
            raise self.error
        return dict(self.status)

    def counts(self) -> dict[str, int]:
        return {"dead letters": self.dead_letters}


@dataclass
class World:
    """Everything behind one app: inspect it to see what a request did (or did not) store."""

    clock: FakeClock = field(default_factory=FakeClock)
    uow_factory: Callable[[], Any] = field(default_factory=FakeUnitOfWorkFactory)
    rails: FakeRailRegistry = field(default_factory=lambda: FakeRailRegistry(VpaCheckingRail(), FakeWalletRail()))
    health: FakeHealth = field(default_factory=FakeHealth)
    clients: dict[str, ApiClient] = field(default_factory=dict)

    def __post_init__(self) -> None:
        now = self.clock.now()
        for client in (
            ApiClient(CLIENT_ID, "Alpha Stores", CLIENT_SECRET, now),
            ApiClient(OTHER_CLIENT_ID, "Beta Mart", OTHER_CLIENT_SECRET, now),
            ApiClient(INACTIVE_CLIENT_ID, "Gone Ltd", INACTIVE_CLIENT_SECRET, now, active=False),
        ):
            self.clients.setdefault(client.client_id, client)

    @property
    def store(self) -> Store:
        factory = self.uow_factory
        assert isinstance(factory, FakeUnitOfWorkFactory)
        return factory.store

    def services(self) -> ApiServices:
        return ApiServices(
            uow_factory=lambda: self.uow_factory(),
            rails=self.rails,
            clock=self.clock,
            intake_policy=IntakePolicy(),
            health=self.health,
            find_client=self.clients.get,
            fingerprint_key=FINGERPRINT_KEY,
            version="9.9.9-test",
        )

    def app(self) -> Litestar:
        return create_app(self.services())

    def process(self, payment_id: str) -> None:
        """Let a worker carry the payment out against the fake rail (adds history)."""
        process_payment(
            uuid.UUID(payment_id),
            worker="test-worker",
            uow_factory=self.uow_factory,
            rails=self.rails,
            clock=self.clock,
            policy=ProcessingPolicy(),
        )


def signed_headers(
    method: str,
    target: str,
    body: bytes = b"",
    *,
    client_id: str = CLIENT_ID,
    secret: str = CLIENT_SECRET,
    timestamp: int,
    key: str | None = None,
) -> dict[str, str]:
    """The headers a merchant sends: ``target`` is the path with its query exactly as sent."""
    headers = {
        "X-Client-Id": client_id,
        "X-Timestamp": str(timestamp),
        "X-HMAC": sign(secret, canonical_request(method, target, str(timestamp), key or "", body)),
    }
    if key is not None:
        headers["Idempotency-Key"] = key
    return headers


def as_sent(path: str) -> str:
    """The path and query as httpx will put them on the wire (percent-encoded): what gets signed."""
    return httpx.URL("http://testserver.local" + path).raw_path.decode("ascii")


class SignedClient:
    """A merchant's view of the API: every call signed unless told otherwise."""

    def __init__(self, client: TestClient[Litestar], world: World) -> None:
        self.http = client
        self.world = world

    def now(self) -> int:
        return int(self.world.clock.now().timestamp())

    def post(
        self,
        path: str,
        payload: Any = None,
        *,
        key: str | None = "key-1",
        raw: bytes | None = None,
        content_type: str | None = "application/json",
        client_id: str = CLIENT_ID,
        secret: str = CLIENT_SECRET,
        extra_headers: Mapping[str, str] | None = None,
    ) -> httpx.Response:
        body = raw if raw is not None else json.dumps(payload).encode()
        target = as_sent(path)
        headers = signed_headers(
            "POST", target, body, client_id=client_id, secret=secret, timestamp=self.now(), key=key
        )
        if content_type is not None:
            headers["Content-Type"] = content_type
        headers.update(extra_headers or {})
        return self.http.post(path, content=body, headers=headers)

    def get(self, path: str, *, client_id: str = CLIENT_ID, secret: str = CLIENT_SECRET) -> httpx.Response:
        headers = signed_headers("GET", as_sent(path), client_id=client_id, secret=secret, timestamp=self.now())
        return self.http.get(path, headers=headers)


def pay_body(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"senderUpi": "alice@okbank", "receiverUpi": "shop@okaxis", "amount": "28.00"}
    body.update(overrides)
    return {k: v for k, v in body.items() if v is not ...}


def assert_problem(response: httpx.Response, status: int) -> dict[str, Any]:
    """An RFC 9457 document with the given status, and no trace of internals or secrets."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith(PROBLEM_JSON)
    problem = response.json()
    assert problem["status"] == status
    assert problem["type"].startswith("urn:flosspay:problem:")
    assert isinstance(problem["title"], str) and problem["title"]
    assert isinstance(problem["detail"], str) and problem["detail"]
    assert_no_leak(response)
    return problem


def assert_no_leak(response: httpx.Response) -> None:
    text = response.text
    for secret in SECRETS:
        assert secret not in text
    for marker in ("Traceback", 'File "', "site-packages", "litestar."):
        assert marker not in text


def field_errors(problem: dict[str, Any]) -> dict[str, str]:
    return {e["field"]: e["message"] for e in problem["errors"]}


def fake_resolve(host: str, port: int) -> list[str]:
    return {"hooks.example.com": ["93.184.216.34"], "rebind.example.com": ["10.0.0.7"]}.get(host, [])


@dataclasses.dataclass
class HookWorld(World):
    allow_private: bool = False

    def services(self) -> ApiServices:
        context = WebhookContext(
            uow_factory=self.uow_factory,
            clock=self.clock,
            policy=WebhookPolicy(allow_private_urls=self.allow_private),
            vet_url=url_vetter(self.allow_private, fake_resolve),
            answers=HTTP_WEBHOOK_ANSWERS,
        )
        return dataclasses.replace(super().services(), webhooks=context)


@contextlib.contextmanager
def webhook_api(db_path: Path) -> Iterator[SignedClient]:
    """A signed client of a webhook-enabled app over a fresh, migrated SQLite database at ``db_path``."""
    from flosspay.adapters.persistence.engine import create_engine
    from flosspay.adapters.persistence.migrate import upgrade
    from flosspay.adapters.persistence.unit_of_work import SqlUnitOfWorkFactory
    from tests.db_fixtures import TEST_SECRET_BOX

    url = f"sqlite:///{db_path}"
    upgrade(url)
    engine = create_engine(url)
    world = HookWorld(uow_factory=SqlUnitOfWorkFactory(engine, TEST_SECRET_BOX))
    try:
        with TestClient(world.app()) as client:
            yield SignedClient(client, world)
    finally:
        engine.dispose()
