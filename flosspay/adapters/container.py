"""The composition root: the one place that wires the ports to their adapters.

Tests override providers (``container.uow_factory.override(...)``) instead of patching modules.
"""

from __future__ import annotations

import os
import socket
from functools import partial

from dependency_injector import containers, providers

from flosspay import __version__
from flosspay.adapters.breaker_store import (
    CachedBreakerStore,
    InProcessBreakerStore,
    MeteredBreakerStore,
    RedisBreakerStore,
)
from flosspay.adapters.client_cache import ClientCache
from flosspay.adapters.clock import SystemClock
from flosspay.adapters.config import Settings, read_secret_key_files
from flosspay.adapters.health import Health
from flosspay.adapters.http.services import ApiServices
from flosspay.adapters.http.webhook_views import HTTP_WEBHOOK_ANSWERS
from flosspay.adapters.ledger_signing import load_signer
from flosspay.adapters.persistence.engine import create_engine
from flosspay.adapters.persistence.health import database_ok
from flosspay.adapters.persistence.unit_of_work import SqlUnitOfWorkFactory
from flosspay.adapters.rails import PluginRailRegistry, RailLoader
from flosspay.adapters.rate_limit import build_rate_limiter
from flosspay.adapters.secret_box import SecretBox
from flosspay.adapters.webhooks.delivery_loop import WebhookDeliveryLoop
from flosspay.adapters.webhooks.resolver import url_vetter
from flosspay.adapters.worker.broker import build_broker
from flosspay.adapters.worker.instrumented import TimedRails
from flosspay.adapters.worker.services import WorkerServices
from flosspay.application.breakers import CircuitBreakers
from flosspay.application.dead_letters import count_dead_letters
from flosspay.application.ledger_chain import Chainer, ChainPolicy
from flosspay.application.webhook_endpoints import WebhookContext
from flosspay.domain.ports import BreakerStore, RailRegistry


def _build_rails(loader: RailLoader, settings: Settings, sandboxes: bool) -> PluginRailRegistry:
    per_rail = {name: dict(values) for name, values in settings.rails.per_rail.items()}
    if sandboxes:
        loader.start_sandboxes(per_rail, settings.rails.enabled)
    return loader.build(per_rail, settings.rails.enabled)


def secret_box_for(settings: Settings) -> SecretBox:
    """The box sealing client secrets; with the generated key files it re-reads them after a rotation."""
    if settings.secret_key_from_env:
        return SecretBox(settings.secret_key, settings.previous_secret_keys)
    data_dir = settings.data_dir

    def reload() -> tuple[bytes, tuple[bytes, ...]]:
        return read_secret_key_files(data_dir)

    return SecretBox(settings.secret_key, settings.previous_secret_keys, reload=reload)


def _breaker_store(settings: Settings, registry: RailRegistry) -> BreakerStore:
    """Shared by every worker through Redis; in-process for the embedded server. Metered: every breaker read
    or stored sets ``flosspay_breaker_state`` for its rail (each running rail is exposed from the start)."""
    store: BreakerStore
    if settings.broker.redis_url is None:
        store = InProcessBreakerStore()
    else:
        # Reads kept for a moment, changes still compare-and-swap on Redis (ADR 0015).
        store = CachedBreakerStore(RedisBreakerStore(settings.broker.redis_url, settings.broker.namespace))
    running = {rail.name for method in registry.methods() if (rail := registry.by_method(method)) is not None}
    return MeteredBreakerStore(store, sorted(running))


SHARED_SUCCESS_BATCH = 16


def _success_batch(settings: Settings) -> int:
    """Successes counted in the shared (Redis) breakers up to 16 at a time (ADR 0015); in-process, each."""
    return SHARED_SUCCESS_BATCH if settings.broker.redis_url is not None else 1


def _rail_problems(registry: PluginRailRegistry, settings: Settings) -> dict[str, str]:
    from flosspay.adapters.startup import rail_problems

    return rail_problems(registry, settings.rails.enabled)


def _rails_running(registry: PluginRailRegistry) -> int:
    return len(registry.all())


def watch_database_metrics(container: Container) -> None:
    """Expose the outbox backlog and chain lag from this process's /metrics (computed per scrape)."""
    from flosspay.adapters.metrics import watch_database
    from flosspay.adapters.persistence.backlog import backlog

    engine = container.engine()
    watch_database(lambda: backlog(engine))


def _worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


class Container(containers.DeclarativeContainer):
    settings = providers.Dependency(instance_of=Settings)
    start_sandboxes = providers.Object(False)

    clock = providers.Singleton(SystemClock)
    engine = providers.Singleton(create_engine, settings.provided.database.url)
    secret_box = providers.Singleton(secret_box_for, settings)
    uow_factory = providers.Singleton(SqlUnitOfWorkFactory, engine, secret_box)
    rail_loader = providers.Singleton(RailLoader)
    rails = providers.Singleton(_build_rails, rail_loader, settings, start_sandboxes)
    clients = providers.Singleton(ClientCache, uow_factory)
    breaker_store = providers.Singleton(_breaker_store, settings, rails)
    breakers = providers.Singleton(
        CircuitBreakers,
        breaker_store,
        clock,
        settings.provided.breakers,
        success_batch=providers.Callable(_success_batch, settings),
    )
    rate_limiter = providers.Singleton(build_rate_limiter, settings)
    health = providers.Singleton(
        Health,
        database_ok=providers.Factory(partial, database_ok, engine),
        redis_url=settings.provided.broker.url,
        dead_letters=providers.Factory(partial, count_dead_letters, uow_factory=uow_factory),
        rail_problems=providers.Callable(_rail_problems, rails, settings),
        rails_running=providers.Callable(_rails_running, rails),
    )
    # Webhooks (issue 12): the use cases' ports, and the delivery loop the worker and `serve` run.
    webhook_context = providers.Singleton(
        WebhookContext,
        uow_factory=uow_factory,
        clock=clock,
        policy=settings.provided.webhooks,
        vet_url=providers.Callable(url_vetter, settings.provided.webhooks.allow_private_urls),
        idempotency_ttl=settings.provided.intake.idempotency_ttl,
        answers=HTTP_WEBHOOK_ANSWERS,  # the API's answers (the CLI prints the same JSON)
    )
    webhook_delivery = providers.Singleton(WebhookDeliveryLoop, uow_factory, clock, settings.provided.webhooks)
    api_services = providers.Singleton(
        ApiServices,
        uow_factory=uow_factory,
        rails=rails,
        clock=clock,
        intake_policy=settings.provided.intake,
        health=health,
        find_client=clients,
        fingerprint_key=settings.provided.secret_key,
        breakers=breakers,
        rate_limiter=rate_limiter,
        max_body_bytes=settings.provided.http.max_body_bytes,
        clock_skew_seconds=settings.provided.http.clock_skew_seconds,
        version=__version__,
        webhooks=webhook_context,
        metrics_path=settings.provided.observability.metrics_path,
    )
    worker_services = providers.Singleton(
        WorkerServices,
        uow_factory=uow_factory,
        rails=providers.Singleton(TimedRails, rails),
        clock=clock,
        policy=settings.provided.processing,
        worker_id=providers.Callable(_worker_id),
        relay_interval_seconds=settings.provided.worker.relay_interval_seconds,
        relay_batch=settings.provided.worker.relay_batch,
        relay_recovery_interval_seconds=settings.provided.worker.relay_recovery_interval_seconds,
        relay_chain_interval_seconds=settings.provided.worker.relay_chain_interval_seconds,
        min_backoff_ms=settings.provided.worker.min_backoff_ms,
        max_backoff_ms=settings.provided.worker.max_backoff_ms,
        breakers=breakers,
    )
    ledger_signer = providers.Singleton(load_signer, settings.provided.ledger.signing_key)
    chain_policy = providers.Singleton(
        ChainPolicy,
        batch=settings.provided.ledger.chain_batch,
        checkpoint_every=settings.provided.ledger.checkpoint_every,
    )
    chainer = providers.Singleton(Chainer, uow_factory, clock, chain_policy, ledger_signer)
    broker = providers.Singleton(
        build_broker,
        worker_services,
        url=settings.provided.broker.url,
        namespace=settings.provided.broker.namespace,
        heartbeat_timeout_ms=settings.provided.broker.heartbeat_timeout_ms,
    )
