"""Settings: typed, one object per concern, read from the environment in this one place."""

from __future__ import annotations

import os
import secrets
from collections.abc import Mapping
from datetime import timedelta
from pathlib import Path

import msgspec

from flosspay.application.policies import IntakePolicy, ProcessingPolicy


class ConfigError(Exception):
    """A setting is malformed; the message names the variable and what is expected."""


class DatabaseSettings(msgspec.Struct, frozen=True):
    url: str


class BrokerSettings(msgspec.Struct, frozen=True):
    """``redis_url`` None means the embedded in-process queue (only for ``flosspay serve``)."""

    redis_url: str | None
    namespace: str = "flosspay"
    heartbeat_timeout_ms: int = 60_000


class HttpSettings(msgspec.Struct, frozen=True):
    host: str = "127.0.0.1"
    port: int = 8080
    workers: int = 1
    max_body_bytes: int = 64 * 1024
    clock_skew_seconds: int = 300


class WorkerSettings(msgspec.Struct, frozen=True):
    threads: int = 8
    min_backoff_ms: int = 500
    max_backoff_ms: int = 30_000
    relay_interval_seconds: float = 0.1
    relay_batch: int = 200


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
    log_format: str = "auto"
    observability: ObservabilitySettings = ObservabilitySettings()


_KNOWN = {
    "DATA_DIR",
    "DATABASE_URL",
    "REDIS_URL",
    "QUEUE_NAMESPACE",
    "HEARTBEAT_TIMEOUT_MS",
    "HOST",
    "PORT",
    "API_WORKERS",
    "MAX_BODY_BYTES",
    "CLOCK_SKEW_SECONDS",
    "WORKER_THREADS",
    "RETRY_MIN_BACKOFF_MS",
    "RETRY_MAX_BACKOFF_MS",
    "RELAY_INTERVAL_SECONDS",
    "RELAY_BATCH",
    "RAILS",
    "IDEMPOTENCY_TTL_HOURS",
    "MAX_ATTEMPTS",
    "LEASE_SECONDS",
    "COLLECT_POLL_SECONDS",
    "SECRET_KEY",
    "LOG_LEVEL",
    "LOG_FORMAT",
    "METRICS_PATH",
    "METRICS_DIR",
    "REQUIRE_SERVICES",
    "TEST_DATABASE_URL",
    "TEST_REDIS_URL",
    "PSP_URL",
    "LEDGER_SIGNING_KEY",
    "LEDGER_CHECKPOINT_EVERY",
    "LEDGER_CHAIN_BATCH",
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


def _rail_settings(env: Mapping[str, str]) -> dict[str, dict[str, str]]:
    """FLOSSPAY_<RAIL>_<KEY>=v → {"<rail>": {"<key>": v}} for every variable that is not a core one."""
    per_rail: dict[str, dict[str, str]] = {}
    for name, value in env.items():
        if not name.startswith("FLOSSPAY_"):
            continue
        rest = name[len("FLOSSPAY_") :]
        if rest in _KNOWN or "_" not in rest:
            continue
        rail, key = rest.split("_", 1)
        per_rail.setdefault(rail.lower(), {})[key.lower()] = value
    return per_rail


def _secret_key(env: Mapping[str, str], data_dir: Path) -> bytes:
    """The server's secret (idempotency fingerprints): from the environment, or made once per data dir."""
    raw = env.get("FLOSSPAY_SECRET_KEY")
    if raw:
        return raw.encode()
    path = data_dir / "secret.key"
    if path.exists():
        return path.read_bytes().strip()
    data_dir.mkdir(parents=True, exist_ok=True)
    key = secrets.token_hex(32).encode()
    path.write_bytes(key)
    path.chmod(0o600)
    return key


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
    rails_raw = env.get("FLOSSPAY_RAILS", "").strip()
    enabled = tuple(r.strip().lower() for r in rails_raw.split(",") if r.strip()) or None
    max_attempts = _int(env, "MAX_ATTEMPTS", 5, 1, 100)
    min_backoff = _int(env, "RETRY_MIN_BACKOFF_MS", 500, 1)
    max_backoff = _int(env, "RETRY_MAX_BACKOFF_MS", 30_000, 1)
    if max_backoff < min_backoff:
        raise ConfigError("FLOSSPAY_RETRY_MAX_BACKOFF_MS must not be below FLOSSPAY_RETRY_MIN_BACKOFF_MS")
    return Settings(
        data_dir=data_dir,
        database=DatabaseSettings(url=db_url),
        broker=BrokerSettings(
            redis_url=redis_url,
            namespace=env.get("FLOSSPAY_QUEUE_NAMESPACE") or "flosspay",
            heartbeat_timeout_ms=_int(env, "HEARTBEAT_TIMEOUT_MS", 60_000, 1000),
        ),
        http=HttpSettings(
            host=env.get("FLOSSPAY_HOST") or "127.0.0.1",
            port=_int(env, "PORT", 8080, 0, 65535),
            workers=_int(env, "API_WORKERS", 1, 1, 64),
            max_body_bytes=_int(env, "MAX_BODY_BYTES", 64 * 1024, 1024),
            clock_skew_seconds=_int(env, "CLOCK_SKEW_SECONDS", 300, 1, 3600),
        ),
        worker=WorkerSettings(
            threads=_int(env, "WORKER_THREADS", 8, 1, 256),
            min_backoff_ms=min_backoff,
            max_backoff_ms=max_backoff,
            relay_interval_seconds=_float(env, "RELAY_INTERVAL_SECONDS", 0.1),
            relay_batch=_int(env, "RELAY_BATCH", 200, 1, 10_000),
        ),
        rails=RailsSettings(enabled=enabled, per_rail=_rail_settings(env)),
        intake=IntakePolicy(idempotency_ttl=timedelta(hours=_int(env, "IDEMPOTENCY_TTL_HOURS", 24, 1, 24 * 365))),
        processing=ProcessingPolicy(
            max_attempts=max_attempts,
            lease=timedelta(seconds=_int(env, "LEASE_SECONDS", 30, 1, 3600)),
            poll_interval=timedelta(seconds=_float(env, "COLLECT_POLL_SECONDS", 2.0)),
        ),
        secret_key=_secret_key(env, data_dir),
        log_level=(env.get("FLOSSPAY_LOG_LEVEL") or "INFO").upper(),
        ledger=_ledger(env),
        log_format=_log_format(env),
        observability=_observability(env),
    )
