"""flosspay_breaker_state follows every breaker the metered store keeps, per rail."""

from datetime import timedelta

import pytest
from prometheus_client import REGISTRY

from flosspay.adapters.breaker_store import InProcessBreakerStore, MeteredBreakerStore
from flosspay.application.breakers import BreakerPolicy, CircuitBreakers
from flosspay.domain.breaker import Breaker, BreakerConfig, BreakerState
from flosspay.domain.rail import Outcome
from tests.fakes import FakeClock

pytestmark = pytest.mark.unit


def gauge(rail: str) -> float | None:
    return REGISTRY.get_sample_value("flosspay_breaker_state", {"rail": rail})


def test_each_rail_starts_at_its_stored_state_and_follows_the_transitions() -> None:
    inner = InProcessBreakerStore()
    assert inner.swap(0, Breaker("mrail-b", BreakerState.OPEN, version=1))
    store = MeteredBreakerStore(inner, ["mrail-a", "mrail-b"])
    assert (gauge("mrail-a"), gauge("mrail-b")) == (0.0, 2.0)
    clock = FakeClock()
    config = BreakerConfig(failure_threshold=1, cool_down=timedelta(seconds=5))
    breakers = CircuitBreakers(store, clock, BreakerPolicy(per_rail={"mrail-a": config}))
    breakers.record("mrail-a/psp.example", breakers.acquire("mrail-a/psp.example"), Outcome.TRANSIENT)
    assert gauge("mrail-a") == 2.0  # a service "rail/host" counts for its rail
    clock.advance(5)
    assert breakers.acquire("mrail-a/psp.example").probe and gauge("mrail-a") == 1.0


class DownStore(InProcessBreakerStore):
    def load(self, service: str) -> Breaker:
        raise ConnectionError("redis down")


def test_a_store_that_does_not_answer_at_start_shows_closed() -> None:
    MeteredBreakerStore(DownStore(), ["mrail-c"])
    assert gauge("mrail-c") == 0.0
