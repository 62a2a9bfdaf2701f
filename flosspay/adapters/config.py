"""Settings: typed, one object per concern, read from the environment in this one place."""

from __future__ import annotations

import contextlib
import os
import secrets
from collections.abc import Mapping
from datetime import timedelta
from pathlib import Path

import msgspec

from flosspay.adapters.private_files import create_private_file, ensure_private_dir
from flosspay.application.breakers import BreakerPolicy
from flosspay.application.policies import IntakePolicy, ProcessingPolicy
from flosspay.domain.breaker import BreakerConfig
from flosspay.domain.webhooks import BreakerRule, WebhookPolicy, parse_duration


class ConfigError(Exception):
    """A setting is malformed; the message names the variable and what is expected."""


class DatabaseSettings(msgspec.Struct, frozen=True):
    url: str


class BrokerSettings(msgspec.Struct, frozen=True):
    """``url``: the message broker (``FLOSSPAY_BROKER_URL``, default ``redis_url``); None means the embedded
    in-process queue (only for ``flosspay serve``). ``redis_url``: the Redis holding the shared state
    (circuit breakers, rate limits) and, by default, the queue."""

    redis_url: str | None
    namespace: str = "flosspay"
    heartbeat_timeout_ms: int = 60_000
    url: str | None = None

    @property
    def kind(self) -> str:
        """``redis``, ``rabbitmq`` or ``in-process``."""
        if self.url is None:
            return "in-process"
        return "rabbitmq" if self.url.startswith(("amqp://", "amqps://")) else "redis"


class HttpSettings(msgspec.Struct, frozen=True):
    """The HTTP server's bounds (``adapters.http.bounded_server``) beside where it listens."""

    host: str = "127.0.0.1"
    port: int = 8080
    workers: int = 1
    max_body_bytes: int = 64 * 1024
    clock_skew_seconds: int = 300
    max_header_bytes: int = 16 * 1024
    header_timeout_seconds: float = 10.0
    body_timeout_seconds: float = 10.0
    keep_alive_seconds: int = 5
    max_connections: int = 1000


class WorkerSettings(msgspec.Struct, frozen=True):
    """``processes`` 0: one per core (``flosspay worker --processes``, ADR 0016). The relay's stalled
    sweeps run every ``relay_recovery_interval_seconds`` (at most a third of the lease), its chainer at
    least every ``relay_chain_interval_seconds`` (ADR 0020)."""

    threads: int = 8
    min_backoff_ms: int = 500
    max_backoff_ms: int = 30_000
    relay_interval_seconds: float = 0.1
    relay_batch: int = 200
    processes: int = 0
    relay_recovery_interval_seconds: float = 5.0
    relay_chain_interval_seconds: float = 0.5
    nice: int = 0  # CPU niceness of worker processes: the API answers first on a shared machine (docs/performance.md)


class RailsSettings(msgspec.Struct, frozen=True):
    """``enabled`` None means every installed rail. ``per_rail`` holds FLOSSPAY_<NAME>_<KEY> values."""

    enabled: tuple[str, ...] | None
    per_rail: dict[str, dict[str, str]]

    def for_rail(self, name: str) -> dict[str, str]:
        return dict(self.per_rail.get(name.lower(), {}))


class LedgerSettings(msgspec.Struct, frozen=True):
    """``signing_key``: PEM Ed25519 private key that signs checkpoints (None: unsigned)."""

    signing_key: Path | None = None
    checkpoint_every: int = 1000
    chain_batch: int = 1000


class RateLimitSettings(msgspec.Struct, frozen=True):
    """Per-client token buckets on ``/api/v1`` (each client's rate and burst are stored with it)."""

    enabled: bool = True


class ObservabilitySettings(msgspec.Struct, frozen=True):
    """``metrics_path`` None: no /metrics endpoint. ``multiprocess_dir``: prometheus-client's shared directory
    when several API processes answer on one port (set by ``flosspay api --workers N`` if not given)."""

    metrics_path: str | None = "/metrics"
    multiprocess_dir: Path | None = None


class Settings(msgspec.Struct, frozen=True):
    data_dir: Path
    database: DatabaseSettings
    broker: BrokerSettings
    http: HttpSettings
    worker: WorkerSettings
    rails: RailsSettings
    intake: IntakePolicy
    processing: ProcessingPolicy
    secret_key: bytes
    log_level: str = "INFO"
    ledger: LedgerSettings = LedgerSettings()
    previous_secret_keys: tuple[bytes, ...] = ()
    secret_key_from_env: bool = False
    webhooks: WebhookPolicy = WebhookPolicy()
    breakers: BreakerPolicy = BreakerPolicy()
    rate_limit: RateLimitSettings = RateLimitSettings()
    log_format: str = "auto"
    observability: ObservabilitySettings = ObservabilitySettings()


_KNOWN = {
    "DATA_DIR",
    "DATABASE_URL",
    "REDIS_URL",
    "BROKER_URL",
    "QUEUE_NAMESPACE",
    "HEARTBEAT_TIMEOUT_MS",
    "HOST",
    "PORT",
    "API_WORKERS",
    "MAX_BODY_BYTES",
    "CLOCK_SKEW_SECONDS",
    "WORKER_THREADS",
    "WORKER_PROCESSES",
    "WORKER_NICE",
    "WORKER_PARENT_PID",
    "WORKER_INDEX",
    "RETRY_MIN_BACKOFF_MS",
    "RETRY_MAX_BACKOFF_MS",
    "RELAY_INTERVAL_SECONDS",
    "RELAY_BATCH",
    "RELAY_RECOVERY_INTERVAL_SECONDS",
    "RELAY_CHAIN_INTERVAL_SECONDS",
    "RAILS",
    "IDEMPOTENCY_TTL_HOURS",
    "MAX_ATTEMPTS",
    "LEASE_SECONDS",
    "STALL_AFTER_SECONDS",
    "COLLECT_POLL_SECONDS",
    "SECRET_KEY",
    "SECRET_KEY_PREVIOUS",
    "HTTP_MAX_HEADER_BYTES",
    "HTTP_HEADER_TIMEOUT_SECONDS",
    "HTTP_BODY_TIMEOUT_SECONDS",
    "HTTP_KEEP_ALIVE_SECONDS",
    "HTTP_MAX_CONNECTIONS",
    "LOG_LEVEL",
    "LOG_FORMAT",
    "METRICS_PATH",
    "METRICS_DIR",
    "REQUIRE_SERVICES",
    "TEST_DATABASE_URL",
    "TEST_REDIS_URL",
    "TEST_RABBITMQ_URL",
    "PSP_URL",
    "LEDGER_SIGNING_KEY",
    "LEDGER_CHECKPOINT_EVERY",
    "LEDGER_CHAIN_BATCH",
    # webhooks (issue 12)
    "WEBHOOK_ALLOW_PRIVATE_URLS",
    "WEBHOOK_TIMEOUT_SECONDS",
    "WEBHOOK_RETRY_SCHEDULE",
    "WEBHOOK_BREAKER_THRESHOLD",
    "WEBHOOK_BREAKER_COOLDOWN_SECONDS",
    "WEBHOOK_SECRET_OVERLAP_HOURS",
    "WEBHOOK_BATCH",
    "WEBHOOK_CONCURRENCY",
    "WEBHOOK_POLL_SECONDS",
}


def _int(env: Mapping[str, str], name: str, default: int, low: int = 0, high: int = 10**9) -> int:
    raw = env.get(f"FLOSSPAY_{name}")
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(f"FLOSSPAY_{name} must be a whole number, got {raw!r}") from None
    if not low <= value <= high:
        raise ConfigError(f"FLOSSPAY_{name} must be between {low} and {high}, got {value}")
    return value


def _float(env: Mapping[str, str], name: str, default: float) -> float:
    raw = env.get(f"FLOSSPAY_{name}")
    if raw is None or raw == "":
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ConfigError(f"FLOSSPAY_{name} must be a number, got {raw!r}") from None
    if value <= 0:
        raise ConfigError(f"FLOSSPAY_{name} must be positive, got {raw!r}")
    return value


def http_settings(env: Mapping[str, str]) -> HttpSettings:
    return HttpSettings(
        host=env.get("FLOSSPAY_HOST") or "127.0.0.1",
        port=_int(env, "PORT", 8080, 0, 65535),
        workers=_int(env, "API_WORKERS", 1, 1, 64),
        max_body_bytes=_int(env, "MAX_BODY_BYTES", 64 * 1024, 1024),
        clock_skew_seconds=_int(env, "CLOCK_SKEW_SECONDS", 300, 1, 3600),
        max_header_bytes=_int(env, "HTTP_MAX_HEADER_BYTES", 16 * 1024, 1024, 1024 * 1024),
        header_timeout_seconds=_float(env, "HTTP_HEADER_TIMEOUT_SECONDS", 10.0),
        body_timeout_seconds=_float(env, "HTTP_BODY_TIMEOUT_SECONDS", 10.0),
        keep_alive_seconds=_int(env, "HTTP_KEEP_ALIVE_SECONDS", 5, 1, 3600),
        max_connections=_int(env, "HTTP_MAX_CONNECTIONS", 1000, 1, 1_000_000),
    )


_CORE_PREFIXES = ("BREAKER_", "RATE_LIMIT")

_BREAKER_KEYS = {
    "FAILURES": "failure_threshold",
    "FAILURE_RATE": "failure_rate",
    "MIN_CALLS": "min_calls",
    "WINDOW_SECONDS": "window",
    "COOL_DOWN_SECONDS": "cool_down",
    "HALF_OPEN_PROBES": "half_open_probes",
}


def _breaker_config(env: Mapping[str, str], prefix: str, base: BreakerConfig) -> BreakerConfig:
    """``FLOSSPAY_<prefix><KEY>`` values over ``base``."""
    try:
        return BreakerConfig(
            failure_threshold=_int(env, prefix + "FAILURES", base.failure_threshold, 1, 10**6),
            failure_rate=_float(env, prefix + "FAILURE_RATE", base.failure_rate),
            min_calls=_int(env, prefix + "MIN_CALLS", base.min_calls, 1, 10**6),
            window=timedelta(seconds=_float(env, prefix + "WINDOW_SECONDS", base.window.total_seconds())),
            cool_down=timedelta(seconds=_float(env, prefix + "COOL_DOWN_SECONDS", base.cool_down.total_seconds())),
            half_open_probes=_int(env, prefix + "HALF_OPEN_PROBES", base.half_open_probes, 1, 1000),
        )
    except ValueError as exc:
        raise ConfigError(f"FLOSSPAY_{prefix}*: {exc}") from None


def _breakers(env: Mapping[str, str]) -> BreakerPolicy:
    """FLOSSPAY_BREAKER_<KEY> for every rail, FLOSSPAY_BREAKER_<RAIL>_<KEY> for one rail."""
    default = _breaker_config(env, "BREAKER_", BreakerConfig())
    rails: set[str] = set()
    for name in env:
        rest = name.removeprefix("FLOSSPAY_BREAKER_")
        if rest == name or rest in _BREAKER_KEYS:
            continue
        rail = next((rest[: -len(k) - 1] for k in _BREAKER_KEYS if rest.endswith("_" + k)), None)
        if not rail:
            raise ConfigError(f"{name} is not a breaker setting (known: {', '.join(sorted(_BREAKER_KEYS))})")
        rails.add(rail)
    per_rail = {rail.lower(): _breaker_config(env, f"BREAKER_{rail}_", default) for rail in sorted(rails)}
    return BreakerPolicy(default=default, per_rail=per_rail)


def _flag(env: Mapping[str, str], name: str, default: bool) -> bool:
    raw = (env.get(f"FLOSSPAY_{name}") or "").strip().lower()
    if not raw:
        return default
    if raw in ("1", "true", "yes", "on"):
        return True
    if raw in ("0", "false", "no", "off"):
        return False
    raise ConfigError(f"FLOSSPAY_{name} must be on or off (1/0, true/false), got {raw!r}")


def _rail_settings(env: Mapping[str, str]) -> dict[str, dict[str, str]]:
    """FLOSSPAY_<RAIL>_<KEY>=v → {"<rail>": {"<key>": v}} for every variable that is not a core one."""
    per_rail: dict[str, dict[str, str]] = {}
    for name, value in env.items():
        if not name.startswith("FLOSSPAY_"):
            continue
        rest = name[len("FLOSSPAY_") :]
        if rest in _KNOWN or "_" not in rest or rest.startswith(_CORE_PREFIXES):
            continue
        rail, key = rest.split("_", 1)
        per_rail.setdefault(rail.lower(), {})[key.lower()] = value
    return per_rail


SECRET_KEY_FILE = "secret.key"  # noqa: S105 (a file name)
PREVIOUS_SECRET_KEYS_FILE = "secret.key.previous"  # noqa: S105


def _secret_key(env: Mapping[str, str], data_dir: Path) -> bytes:
    """The server's secret (idempotency fingerprints, client secrets at rest): from the environment,
    or made once per data dir (created 0600 in one step, never chmod'ed after)."""
    raw = env.get("FLOSSPAY_SECRET_KEY")
    if raw:
        return raw.encode()
    path = data_dir / SECRET_KEY_FILE
    if not path.exists():
        ensure_private_dir(data_dir)
        with contextlib.suppress(FileExistsError):  # another process made it first: use theirs
            create_private_file(path, secrets.token_hex(32).encode())
    return path.read_bytes().strip()


def previous_secret_keys(env: Mapping[str, str], data_dir: Path) -> tuple[bytes, ...]:
    """Keys that may still open values sealed before a rotation (never used to seal).

    ``FLOSSPAY_SECRET_KEY_PREVIOUS`` (comma-separated) when the key comes from the environment,
    else the lines of ``secret.key.previous`` that ``flosspay secret-key rotate`` keeps.
    """
    if env.get("FLOSSPAY_SECRET_KEY"):
        raw = env.get("FLOSSPAY_SECRET_KEY_PREVIOUS") or ""
        return tuple(part.strip().encode() for part in raw.split(",") if part.strip())
    path = data_dir / PREVIOUS_SECRET_KEYS_FILE
    if not path.exists():
        return ()
    return tuple(line.strip() for line in path.read_bytes().splitlines() if line.strip())


def read_secret_key_files(data_dir: Path) -> tuple[bytes, tuple[bytes, ...]]:
    """The current and previous keys as the key files hold them now (after a rotation elsewhere)."""
    return _secret_key({}, data_dir), previous_secret_keys({}, data_dir)


def _ledger(env: Mapping[str, str]) -> LedgerSettings:
    raw = env.get("FLOSSPAY_LEDGER_SIGNING_KEY") or None
    key = Path(raw).expanduser().resolve() if raw else None
    if key is not None and not key.is_file():
        raise ConfigError(f"FLOSSPAY_LEDGER_SIGNING_KEY names no file: {key} (`flosspay ledger keygen FILE` makes one)")
    return LedgerSettings(
        signing_key=key,
        checkpoint_every=_int(env, "LEDGER_CHECKPOINT_EVERY", 1000, 0, 10**9),
        chain_batch=_int(env, "LEDGER_CHAIN_BATCH", 1000, 1, 100_000),
    )


def _webhooks(env: Mapping[str, str]) -> WebhookPolicy:
    allow = (env.get("FLOSSPAY_WEBHOOK_ALLOW_PRIVATE_URLS") or "false").strip().lower()
    if allow not in ("true", "false", "1", "0", "yes", "no"):
        raise ConfigError(f"FLOSSPAY_WEBHOOK_ALLOW_PRIVATE_URLS must be true or false, got {allow!r}")
    raw_schedule = env.get("FLOSSPAY_WEBHOOK_RETRY_SCHEDULE") or ""
    schedule = WebhookPolicy().retry_schedule
    if raw_schedule.strip():
        try:
            schedule = tuple(parse_duration(part) for part in raw_schedule.split(",") if part.strip())
        except ValueError:
            raise ConfigError(
                f"FLOSSPAY_WEBHOOK_RETRY_SCHEDULE must be durations like 5s,5m,30m,2h, got {raw_schedule!r}"
            ) from None
    return WebhookPolicy(
        allow_private_urls=allow in ("true", "1", "yes"),
        timeout=timedelta(seconds=_float(env, "WEBHOOK_TIMEOUT_SECONDS", 10.0)),
        retry_schedule=schedule,
        breaker=BreakerRule(
            threshold=_int(env, "WEBHOOK_BREAKER_THRESHOLD", 5, 1, 1000),
            cooldown=timedelta(seconds=_float(env, "WEBHOOK_BREAKER_COOLDOWN_SECONDS", 60.0)),
        ),
        secret_overlap=timedelta(hours=_float(env, "WEBHOOK_SECRET_OVERLAP_HOURS", 24.0)),
        batch=_int(env, "WEBHOOK_BATCH", 100, 1, 10_000),
        concurrency=_int(env, "WEBHOOK_CONCURRENCY", 8, 1, 256),
        poll_interval=timedelta(seconds=_float(env, "WEBHOOK_POLL_SECONDS", 0.5)),
    )


def _observability(env: Mapping[str, str]) -> ObservabilitySettings:
    raw = env.get("FLOSSPAY_METRICS_PATH")
    path: str | None = "/metrics" if raw is None or raw == "" else raw
    if path is not None and path.lower() in ("off", "none", "false", "0"):
        path = None
    if path is not None and (not path.startswith("/") or path.startswith("/api/") or path == "/api"):
        raise ConfigError(f"FLOSSPAY_METRICS_PATH must be a path such as /metrics outside /api, or off; got {raw!r}")
    directory = env.get("FLOSSPAY_METRICS_DIR") or env.get("PROMETHEUS_MULTIPROC_DIR") or None
    return ObservabilitySettings(
        metrics_path=path, multiprocess_dir=Path(directory).expanduser().resolve() if directory else None
    )


def _log_format(env: Mapping[str, str]) -> str:
    value = (env.get("FLOSSPAY_LOG_FORMAT") or "auto").strip().lower()
    if value not in ("auto", "json", "console"):
        raise ConfigError(f"FLOSSPAY_LOG_FORMAT must be auto, json or console, got {value!r}")
    return value


def _broker_url(env: Mapping[str, str], redis_url: str | None) -> str | None:
    """FLOSSPAY_BROKER_URL (redis:// or amqp://), else the Redis of FLOSSPAY_REDIS_URL (the default).

    RabbitMQ carries only the queue: breakers and rate limits stay shared through Redis, so it needs
    FLOSSPAY_REDIS_URL too (without it each process would keep its own and the limits would not hold).
    """
    raw = env.get("FLOSSPAY_BROKER_URL") or None
    if raw is None:
        return redis_url
    if raw.startswith(("redis://", "rediss://", "unix://")):
        return raw
    if not raw.startswith(("amqp://", "amqps://")):
        raise ConfigError(f"FLOSSPAY_BROKER_URL must be a redis:// or amqp:// URL, got {_redacted(raw)!r}")
    if redis_url is None:
        raise ConfigError(
            "FLOSSPAY_BROKER_URL=amqp://… needs FLOSSPAY_REDIS_URL too "
            "(circuit breakers and rate limits are shared through Redis)"
        )
    return raw


def _redacted(url: str) -> str:
    from flosspay.adapters.logs import redact_url

    return redact_url(url)


def load_settings(env: Mapping[str, str] | None = None) -> Settings:
    """Read every FLOSSPAY_* variable once; raises ConfigError with a one-line message on bad values."""
    env = dict(os.environ if env is None else env)
    data_dir = Path(env.get("FLOSSPAY_DATA_DIR") or ".flosspay").expanduser().resolve()
    db_url = env.get("FLOSSPAY_DATABASE_URL") or f"sqlite:///{data_dir / 'flosspay.db'}"
    if not db_url.startswith(("sqlite", "postgresql")):
        raise ConfigError(f"FLOSSPAY_DATABASE_URL must be a sqlite:/// or postgresql+psycopg:// URL, got {db_url!r}")
    if db_url.startswith("postgresql://"):
        db_url = "postgresql+psycopg://" + db_url[len("postgresql://") :]
    redis_url = env.get("FLOSSPAY_REDIS_URL") or None
    if redis_url is not None and not redis_url.startswith(("redis://", "rediss://", "unix://")):
        raise ConfigError(f"FLOSSPAY_REDIS_URL must be a redis:// URL, got {redis_url!r}")
    broker_url = _broker_url(env, redis_url)
    if redis_url is None and broker_url is not None:  # FLOSSPAY_BROKER_URL=redis://… alone: that Redis for all
        redis_url = broker_url
    rails_raw = env.get("FLOSSPAY_RAILS", "").strip()
    enabled = tuple(r.strip().lower() for r in rails_raw.split(",") if r.strip()) or None
    max_attempts = _int(env, "MAX_ATTEMPTS", 5, 1, 100)
    min_backoff = _int(env, "RETRY_MIN_BACKOFF_MS", 500, 1)
    max_backoff = _int(env, "RETRY_MAX_BACKOFF_MS", 30_000, 1)
    if max_backoff < min_backoff:
        raise ConfigError("FLOSSPAY_RETRY_MAX_BACKOFF_MS must not be below FLOSSPAY_RETRY_MIN_BACKOFF_MS")
    lease_seconds = _int(env, "LEASE_SECONDS", 30, 1, 3600)
    return Settings(
        data_dir=data_dir,
        database=DatabaseSettings(url=db_url),
        broker=BrokerSettings(
            redis_url=redis_url,
            namespace=env.get("FLOSSPAY_QUEUE_NAMESPACE") or "flosspay",
            heartbeat_timeout_ms=_int(env, "HEARTBEAT_TIMEOUT_MS", 60_000, 1000),
            url=broker_url,
        ),
        http=http_settings(env),
        worker=WorkerSettings(
            threads=_int(env, "WORKER_THREADS", 8, 1, 256),
            min_backoff_ms=min_backoff,
            max_backoff_ms=max_backoff,
            relay_interval_seconds=_float(env, "RELAY_INTERVAL_SECONDS", 0.1),
            relay_batch=_int(env, "RELAY_BATCH", 200, 1, 10_000),
            processes=_int(env, "WORKER_PROCESSES", 0, 0, 256),
            nice=_int(env, "WORKER_NICE", 0, 0, 19),
            relay_recovery_interval_seconds=_float(env, "RELAY_RECOVERY_INTERVAL_SECONDS", 5.0),
            relay_chain_interval_seconds=_float(env, "RELAY_CHAIN_INTERVAL_SECONDS", 0.5),
        ),
        rails=RailsSettings(enabled=enabled, per_rail=_rail_settings(env)),
        intake=IntakePolicy(idempotency_ttl=timedelta(hours=_int(env, "IDEMPOTENCY_TTL_HOURS", 24, 1, 24 * 365))),
        processing=ProcessingPolicy(
            max_attempts=max_attempts,
            lease=timedelta(seconds=lease_seconds),
            poll_interval=timedelta(seconds=_float(env, "COLLECT_POLL_SECONDS", 2.0)),
            stall_after=timedelta(seconds=_float(env, "STALL_AFTER_SECONDS", 300.0)),
            retry_window=timedelta(seconds=lease_seconds, milliseconds=max_backoff),
        ),
        secret_key=_secret_key(env, data_dir),
        previous_secret_keys=previous_secret_keys(env, data_dir),
        secret_key_from_env=bool(env.get("FLOSSPAY_SECRET_KEY")),
        log_level=(env.get("FLOSSPAY_LOG_LEVEL") or "INFO").upper(),
        ledger=_ledger(env),
        webhooks=_webhooks(env),
        breakers=_breakers(env),
        rate_limit=RateLimitSettings(enabled=_flag(env, "RATE_LIMIT", True)),
        log_format=_log_format(env),
        observability=_observability(env),
    )
