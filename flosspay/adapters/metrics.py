"""Prometheus metrics: every series FlossPay exposes, declared here, one line each.

Add a metric by adding one line below and one call where the thing happens; ``/metrics`` and the
worker's ``--metrics-port`` expose whatever is declared. Several API processes behind one port
share their samples through prometheus-client's multiprocess mode: ``flosspay api --workers N``
sets ``PROMETHEUS_MULTIPROC_DIR`` before the processes start, and this module reads it when a
scrape is rendered. Gauges that describe the database (outbox backlog, chain lag) are computed
at scrape time by ``DatabaseCollector``, so any process answers them alike.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterable
from typing import Any, TypeVar

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from flosspay.domain.webhooks import AttemptOutcome, DeliveryStatus

logger = logging.getLogger("flosspay.metrics")

_FAST = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)

# fmt: off
HTTP_LATENCY = Histogram("flosspay_http_request_duration_seconds", "HTTP request latency", ["route", "method", "status"], buckets=_FAST)  # noqa: E501
PAYMENTS_CREATED = Counter("flosspay_payments_created_total", "Payments accepted (not replays)", ["rail"])
PAYMENTS_FINISHED = Counter("flosspay_payments_finished_total", "Payments that reached an outcome: completed, declined, failed, expired", ["rail", "outcome", "code"])  # noqa: E501
WORKER_PROCESSING = Histogram("flosspay_worker_processing_seconds", "Time to process one payment message", ["rail", "disposition"], buckets=_FAST)  # noqa: E501
RAIL_CALL = Histogram("flosspay_rail_call_seconds", "Latency of calls to a rail (its PSP)", ["rail", "action", "outcome"], buckets=_FAST)  # noqa: E501
RETRIES = Counter("flosspay_payment_retries_total", "Payment messages sent back for a retry", ["rail"])
DEAD_LETTERS = Counter("flosspay_dead_letters_total", "Payment messages dead-lettered (attempts exhausted)", ["rail"])
BREAKER_STATE = Gauge("flosspay_breaker_state", "Circuit breaker state per rail: 0 closed, 1 half-open, 2 open", ["rail"], multiprocess_mode="livemostrecent")  # noqa: E501
RATE_LIMIT_REJECTIONS = Counter("flosspay_rate_limit_rejections_total", "API requests refused with 429 (a client over its rate limit)")  # noqa: E501
WEBHOOK_ATTEMPTS = Counter("flosspay_webhook_deliveries_total", "Webhook delivery attempts by outcome: delivered, retry (failed, tried again later), dead_lettered (schedule used up), gone (410: endpoint disabled)", ["outcome"])  # noqa: E501
WEBHOOK_LATENCY = Histogram("flosspay_webhook_delivery_seconds", "Duration of one webhook delivery attempt (send to answer or error)", buckets=_FAST)  # noqa: E501
# fmt: on

BREAKER_STATES = {"CLOSED": 0, "HALF_OPEN": 1, "OPEN": 2}
M = TypeVar("M", Counter, Gauge, Histogram)
_CHILDREN: dict[tuple[object, tuple[str, ...]], Any] = {}


def child(metric: M, *labels: str) -> M:
    """``metric.labels(*labels)``, remembered: prometheus-client checks and locks on each lookup (~3 µs), and
    the worker makes several per payment (ADR 0022). The same child object either way."""
    key = (metric, labels)
    found = _CHILDREN.get(key)
    if found is None:
        found = _CHILDREN[key] = metric.labels(*labels)
    return found


WEBHOOK_OUTCOMES = ("delivered", "retry", "dead_lettered", "gone")
for _outcome in WEBHOOK_OUTCOMES:  # every outcome is exposed (at 0) from the start
    WEBHOOK_ATTEMPTS.labels(_outcome)


def breaker_state(rail: str, state: str) -> None:
    """Record a breaker's state as this process last read or stored it."""
    child(BREAKER_STATE, rail).set(BREAKER_STATES.get(state, 0))


def webhook_attempt(finished: AttemptOutcome) -> None:
    """Count one stored webhook attempt by outcome and time it."""
    if finished.succeeded:
        outcome = "delivered"
    elif finished.gone:
        outcome = "gone"
    elif finished.status is DeliveryStatus.FAILED:
        outcome = "dead_lettered"
    else:
        outcome = "retry"
    WEBHOOK_ATTEMPTS.labels(outcome).inc()
    WEBHOOK_LATENCY.observe(finished.attempt.duration_ms / 1000)


DATABASE_GAUGES = {
    "flosspay_outbox_backlog": "Outbox rows due and not yet dispatched",
    "flosspay_outbox_oldest_age_seconds": "Age of the oldest due, undispatched outbox row (0: none)",
    "flosspay_chain_lag": "Status changes and journal entries not yet linked into the hash chain",
}


class DatabaseCollector(Collector):
    """Asks the database at scrape time; a failing query leaves its gauges out instead of failing the scrape."""

    def __init__(self, probe: Callable[[], dict[str, float]]) -> None:
        self._probe = probe

    def collect(self) -> Iterable[Metric]:
        try:
            values = self._probe()
        except Exception as exc:  # the scrape must still answer (the rest of the metrics are fine)
            logger.warning("database metrics unavailable: %s", type(exc).__name__)
            return []
        return [GaugeMetricFamily(name, DATABASE_GAUGES[name], value=values[name]) for name in values]


_database: DatabaseCollector | None = None


def watch_database(probe: Callable[[], dict[str, float]]) -> None:
    """Expose the database gauges from this process (registered once; a later call replaces the probe)."""
    global _database
    if _database is None:
        _database = DatabaseCollector(probe)
        REGISTRY.register(_database)
    else:
        _database._probe = probe


def render() -> tuple[bytes, str]:
    """The exposition text of this process, or of every API process in multiprocess mode."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        if _database is not None:
            registry.register(_database)
        return generate_latest(registry), CONTENT_TYPE_LATEST
    return generate_latest(REGISTRY), CONTENT_TYPE_LATEST


def serve_metrics(port: int, host: str = "0.0.0.0") -> Any:  # noqa: S104 (a scrape target listens where scraped)
    """For ``flosspay worker --metrics-port``: a small HTTP server in a daemon thread."""
    from prometheus_client import start_http_server

    server, _thread = start_http_server(port, addr=host)
    return server


class _DeclaredToo:
    """Every child's samples (multiprocess files) plus, without samples, each FlossPay series no child has
    written yet, so a scrape lists the same names whatever has happened (as a single process does)."""

    def __init__(self, directory: str) -> None:
        from prometheus_client import multiprocess

        self._files = multiprocess.MultiProcessCollector(None, path=directory)  # type: ignore[no-untyped-call]

    def collect(self) -> Any:
        seen = set()
        for family in self._files.collect():  # type: ignore[no-untyped-call]
            seen.add(family.name)
            yield family
        for family in REGISTRY.collect():
            if family.name.startswith("flosspay_") and family.name not in seen:
                family.samples = []
                yield family


def serve_multiprocess_metrics(port: int, host: str, directory: str) -> Any:
    """For ``flosspay worker --processes N --metrics-port``: the parent serves the sum of its children."""
    from prometheus_client import start_http_server

    registry = CollectorRegistry()
    registry.register(_DeclaredToo(directory))
    server, _thread = start_http_server(port, addr=host, registry=registry)
    return server
