"""WorkerServices refuses settings the broker could not honour, with a message naming the setting."""

from __future__ import annotations

from datetime import timedelta

import pytest
from dramatiq.middleware import CurrentMessage, Retries

from flosspay.adapters.clock import SystemClock
from flosspay.adapters.worker.broker import build_broker
from flosspay.adapters.worker.services import WorkerServices
from flosspay.application.policies import ProcessingPolicy
from tests.fakes import FakeRailRegistry, FakeUnitOfWorkFactory

pytestmark = pytest.mark.integration


def _services(**overrides: object) -> WorkerServices:
    values: dict[str, object] = {
        "uow_factory": FakeUnitOfWorkFactory(),
        "rails": FakeRailRegistry(),
        "clock": SystemClock(),
        "policy": ProcessingPolicy(max_attempts=4, lease=timedelta(seconds=30)),
        "worker_id": "worker-a",
        "min_backoff_ms": 100,
        "max_backoff_ms": 2000,
    }
    values.update(overrides)
    return WorkerServices(**values)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"policy": ProcessingPolicy(max_attempts=0)}, "max_attempts"),
        ({"min_backoff_ms": 0}, "min_backoff_ms"),
        ({"min_backoff_ms": 500, "max_backoff_ms": 100}, "max_backoff_ms"),
        ({"relay_batch": 0}, "relay_batch"),
        ({"worker_id": ""}, "worker_id"),
    ],
)
def test_bad_settings_are_refused_with_a_clear_message(overrides: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        _services(**overrides)


def test_broker_retries_follow_the_policy() -> None:
    broker = build_broker(_services(), redis_url=None)
    [retries] = [m for m in broker.middleware if isinstance(m, Retries)]
    assert (retries.max_retries, retries.min_backoff, retries.max_backoff) == (3, 100, 2000)
    assert any(isinstance(m, CurrentMessage) for m in broker.middleware)
