"""Rate limits over HTTP: 429 with Retry-After, RateLimit-* headers, nothing stored, health never limited;
and ``GET /api/v1/rails`` with each rail's breaker."""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Iterator
from datetime import timedelta

import pytest
import redis
from http_api_support import (
    CLIENT_ID,
    CLIENT_SECRET,
    OTHER_CLIENT_ID,
    OTHER_CLIENT_SECRET,
    PROBLEM_JSON,
    SignedClient,
    World,
    pay_body,
)
from litestar.testing import TestClient
from prometheus_client import REGISTRY

from flosspay.adapters.breaker_store import InProcessBreakerStore
from flosspay.adapters.http import ApiServices
from flosspay.adapters.rate_limit import InProcessRateLimiter, RedisRateLimiter
from flosspay.application.breakers import BreakerPolicy, CircuitBreakers
from flosspay.domain.breaker import BreakerConfig
from flosspay.domain.bucket import BucketLimit
from flosspay.domain.clients import ApiClient
from flosspay.domain.rail import Outcome

pytestmark = pytest.mark.integration


class Ticks:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@dataclasses.dataclass
class LimitedWorld(World):
    ticks: Ticks = dataclasses.field(default_factory=Ticks)
    limiter: object = None
    breakers: CircuitBreakers | None = None

    def __post_init__(self) -> None:
        now = self.clock.now()
        self.clients[CLIENT_ID] = ApiClient(CLIENT_ID, "Alpha", CLIENT_SECRET, now, limit=BucketLimit(rate=1, burst=3))
        super().__post_init__()
        if self.limiter is None:
            self.limiter = InProcessRateLimiter(self.ticks)
        if self.breakers is None:
            self.breakers = CircuitBreakers(InProcessBreakerStore(), self.clock)

    def services(self) -> ApiServices:
        return dataclasses.replace(super().services(), rate_limiter=self.limiter, breakers=self.breakers)


@pytest.fixture
def world() -> LimitedWorld:
    return LimitedWorld()


@pytest.fixture
def api(world: LimitedWorld) -> Iterator[SignedClient]:
    with TestClient(world.app()) as client:
        yield SignedClient(client, world)


def limits(response) -> tuple[str | None, str | None, str | None]:
    h = response.headers
    return h.get("RateLimit-Limit"), h.get("RateLimit-Remaining"), h.get("RateLimit-Reset")


def test_over_the_burst_is_429_problem_with_retry_after(api, world):
    answers = [api.post("/api/v1/pay", pay_body(), key=f"k{i}") for i in range(3)]
    assert [a.status_code for a in answers] == [200, 200, 200]
    assert [limits(a) for a in answers] == [("3", "2", "1"), ("3", "1", "2"), ("3", "0", "3")]
    refused = api.post("/api/v1/pay", pay_body(), key="k3")
    assert refused.status_code == 429 and refused.headers["content-type"] == PROBLEM_JSON
    assert refused.headers["Retry-After"] == "1" and limits(refused) == ("3", "0", "3")
    problem = refused.json()
    assert problem["type"] == "urn:flosspay:problem:rate-limited" and problem["status"] == 429
    assert problem["title"] == "Too many requests" and "retry after 1 s" in problem["detail"]


def test_every_429_is_counted_in_the_rejections_metric(api, world):
    def rejected() -> float:
        return REGISTRY.get_sample_value("flosspay_rate_limit_rejections_total") or 0.0

    before = rejected()
    for i in range(3):
        assert api.post("/api/v1/pay", pay_body(), key=f"k{i}").status_code == 200
    assert rejected() == before  # allowed requests are not counted
    assert [api.post("/api/v1/pay", pay_body(), key=f"over{i}").status_code for i in range(2)] == [429, 429]
    assert rejected() == before + 2


def test_a_limited_request_stores_nothing_under_its_key(api, world):
    for i in range(3):
        api.post("/api/v1/pay", pay_body(), key=f"k{i}")
    payments = len(world.store.payments)
    assert api.post("/api/v1/pay", pay_body(), key="retry-me").status_code == 429
    assert (CLIENT_ID, "retry-me") not in world.store.idempotency and len(world.store.payments) == payments
    world.ticks.now += 1.0
    again = api.post("/api/v1/pay", pay_body(), key="retry-me")
    assert again.status_code == 200 and "Idempotent-Replayed" not in again.headers
    assert len(world.store.payments) == payments + 1


def test_the_bucket_refills_at_the_clients_rate(api, world):
    for i in range(3):
        api.post("/api/v1/pay", pay_body(), key=f"k{i}")
    world.ticks.now += 0.5
    assert api.post("/api/v1/pay", pay_body(), key="early").headers["Retry-After"] == "1"
    world.ticks.now += 0.5
    assert api.post("/api/v1/pay", pay_body(), key="on-time").status_code == 200


def test_every_authenticated_answer_carries_the_headers(api, world):
    bad = api.post("/api/v1/pay", {"senderUpi": "nope"}, key="bad")
    missing = api.get(f"/api/v1/transaction/{uuid.uuid4()}/status")
    head = api.get("/api/v1/ledger/head")
    assert (bad.status_code, missing.status_code, head.status_code) == (400, 404, 200)
    assert [limits(r)[:2] for r in (bad, missing, head)] == [("3", "2"), ("3", "1"), ("3", "0")]


def test_a_limited_client_does_not_limit_another(api, world):
    for i in range(4):
        api.post("/api/v1/pay", pay_body(), key=f"k{i}")
    other = api.post("/api/v1/pay", pay_body(), key="o1", client_id=OTHER_CLIENT_ID, secret=OTHER_CLIENT_SECRET)
    assert other.status_code == 200 and limits(other)[:2] == ("200", "199")  # the default bucket


def test_unauthenticated_requests_take_no_token_and_health_is_never_limited(api, world):
    for _ in range(10):
        assert api.post("/api/v1/pay", pay_body(), key="x", secret="wrong").status_code == 401
    for _ in range(10):
        for path in ("/health", "/health/ready"):
            response = api.http.get(path)
            assert response.status_code == 200 and limits(response) == (None, None, None)
    assert api.post("/api/v1/pay", pay_body(), key="first").headers["RateLimit-Remaining"] == "2"


def test_rails_lists_each_enabled_rail_with_its_breaker(api, world):
    cfg = BreakerConfig(failure_threshold=2, cool_down=timedelta(seconds=30))
    world.breakers.policy = BreakerPolicy(default=cfg)
    response = api.get("/api/v1/rails")
    assert response.status_code == 200 and limits(response)[0] == "3"
    rails = {r["name"]: r for r in response.json()["rails"]}
    assert set(rails) == {"upi", "wallet"}
    assert rails["upi"]["method"] == "UPI" and rails["upi"]["flows"] == ["COLLECT", "PAY"]
    assert rails["wallet"]["flows"] == ["PAY"]
    assert rails["upi"]["breaker"] == {
        "service": "upi",
        "state": "CLOSED",
        "failureCount": 0,
        "lastFailure": None,
        "openedAt": None,
    }
    for _ in range(2):
        world.breakers.record("upi", world.breakers.acquire("upi"), Outcome.TRANSIENT)
    world.ticks.now += 10
    rails = {r["name"]: r for r in api.get("/api/v1/rails").json()["rails"]}
    upi = rails["upi"]["breaker"]
    assert upi["state"] == "OPEN" and upi["failureCount"] == 2
    assert upi["openedAt"] == upi["lastFailure"] == world.clock.now().isoformat().replace("+00:00", "Z")
    assert rails["wallet"]["breaker"]["state"] == "CLOSED"
    assert api.http.get("/api/v1/rails").status_code == 401


def test_the_document_describes_rails_and_429(api):
    document = api.http.get("/schema/openapi.json").json()
    operation = document["paths"]["/api/v1/rails"]["get"]
    assert operation["operationId"] == "listRails" and operation["security"]
    assert operation["responses"]["200"]["content"]["application/json"]["schema"]["$ref"].endswith("/RailsView")
    assert "RateLimit-Remaining" in operation["responses"]["200"]["headers"]
    pay = document["paths"]["/api/v1/pay"]["post"]["responses"]
    assert "Retry-After" in pay["429"]["headers"] and PROBLEM_JSON in pay["429"]["content"]


@pytest.fixture
def namespace(redis_url: str) -> Iterator[str]:
    name = f"flosspay-test-{uuid.uuid4().hex[:12]}"
    yield name
    client = redis.Redis.from_url(redis_url)
    keys = list(client.scan_iter(match=f"{name}:*"))
    if keys:
        client.delete(*keys)
    client.close()


@pytest.mark.redis
def test_two_api_processes_share_one_bucket_through_redis(redis_url, namespace):
    shared = LimitedWorld()
    apps = []
    for _ in range(2):
        world = dataclasses.replace(shared, limiter=RedisRateLimiter(redis_url, namespace))
        apps.append(world)
    with TestClient(apps[0].app()) as one, TestClient(apps[1].app()) as two:
        a, b = SignedClient(one, apps[0]), SignedClient(two, apps[1])
        codes = [(a if i % 2 else b).post("/api/v1/pay", pay_body(), key=f"k{i}").status_code for i in range(6)]
    assert codes == [200, 200, 200, 429, 429, 429]
