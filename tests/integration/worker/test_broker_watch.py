"""The worker's broker watch: one line per outage instead of Dramatiq's CRITICAL line every 3 s."""

from __future__ import annotations

import logging
import threading

import pytest
import redis

from flosspay.adapters.worker.runner import BrokerWatch
from tests.e2e.processes import free_port

pytestmark = pytest.mark.integration


def _record(level: int, message: str) -> logging.LogRecord:
    return logging.LogRecord("dramatiq.worker.ConsumerThread(payments)", level, __file__, 1, message, None, None)


def test_an_outage_is_told_once_and_its_end_once(caplog: pytest.LogCaptureFixture) -> None:
    dead = redis.Redis(port=free_port(), socket_connect_timeout=0.2)  # nothing listens there
    up = {"ok": False}

    def ping() -> object:
        return True if up["ok"] else dead.ping()

    watch = BrokerWatch(ping, "127.0.0.1:1")
    with caplog.at_level(logging.INFO, logger="flosspay.worker"):
        assert [watch.check() for _ in range(5)] == [False] * 5
        critical = _record(logging.CRITICAL, "Consumer encountered a connection error: Error 111")
        restarting = _record(logging.INFO, "Restarting consumer in 3.00 seconds.")
        assert not any(watch.filter(r) for r in (critical, restarting, critical, restarting))
        assert watch.filter(_record(logging.INFO, "something else"))
        failed_retry = _record(logging.CRITICAL, "Unexpected failure in after_process_message of <Retries>.")
        failed_retry.exc_info = (redis.ConnectionError, redis.ConnectionError("Error 111"), None)
        assert not watch.filter(failed_retry)
        post = "Failed to post_process_message(process_payment('x')) due to a connection error: Error 111"
        assert not watch.filter(_record(logging.WARNING, post))
        up["ok"] = True
        assert watch.check() and watch.up
        assert watch.filter(restarting)  # no outage: nothing hidden
    lines = [r.getMessage() for r in caplog.records if r.name == "flosspay.worker"]
    assert lines == [
        "broker at 127.0.0.1:1 unreachable (ConnectionError); retrying with backoff",
        "broker at 127.0.0.1:1 answers again",
    ]


def test_waiting_for_the_broker_backs_off_and_gives_up_on_stop() -> None:
    calls: list[float] = []

    def ping() -> object:
        calls.append(0.0)
        raise ConnectionError("down")

    stop = threading.Event()
    timer = threading.Timer(0.5, stop.set)
    timer.start()
    assert BrokerWatch(ping, "x").wait_until_up(stop, first_delay_s=0.05, max_delay_s=10) is False
    timer.cancel()
    assert 3 <= len(calls) <= 5  # 0.05, 0.1, 0.2 … doubling, not a fixed 3 s loop
