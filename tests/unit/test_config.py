"""Settings: one typed object per concern, read from the environment once, with one-line errors."""

from datetime import timedelta
from pathlib import Path

import pytest

from flosspay.adapters.config import ConfigError, load_settings

pytestmark = pytest.mark.unit


def test_defaults(tmp_path: Path):
    s = load_settings({"FLOSSPAY_DATA_DIR": str(tmp_path)})
    assert s.database.url == f"sqlite:///{tmp_path / 'flosspay.db'}"
    assert s.broker.redis_url is None and s.broker.namespace == "flosspay"
    assert (s.http.host, s.http.port, s.http.max_body_bytes, s.http.clock_skew_seconds) == (
        "127.0.0.1",
        8080,
        65536,
        300,
    )
    assert s.processing.max_attempts == 5 and s.processing.lease == timedelta(seconds=30)
    assert s.intake.idempotency_ttl == timedelta(hours=24)
    assert s.rails.enabled is None and s.rails.per_rail == {}
    key = (tmp_path / "secret.key").read_bytes()
    assert s.secret_key == key and len(key) == 64
    assert load_settings({"FLOSSPAY_DATA_DIR": str(tmp_path)}).secret_key == key  # made once, then kept


def test_overrides_and_rail_settings(tmp_path: Path):
    s = load_settings(
        {
            "FLOSSPAY_DATA_DIR": str(tmp_path),
            "FLOSSPAY_DATABASE_URL": "postgresql://u@db/fp",
            "FLOSSPAY_REDIS_URL": "redis://r:6379/0",
            "FLOSSPAY_PORT": "9000",
            "FLOSSPAY_MAX_ATTEMPTS": "3",
            "FLOSSPAY_RAILS": " UPI, card ,",
            "FLOSSPAY_UPI_PSP_URL": "https://psp",
            "FLOSSPAY_UPI_MAX_AMOUNT": "5000.00",
            "FLOSSPAY_CARD_API_KEY": "k",
            "FLOSSPAY_SECRET_KEY": "s3",
            "FLOSSPAY_IDEMPOTENCY_TTL_HOURS": "48",
            "OTHER": "x",
        }
    )
    assert s.database.url == "postgresql+psycopg://u@db/fp"
    assert s.broker.redis_url == "redis://r:6379/0" and s.http.port == 9000 and s.processing.max_attempts == 3
    assert s.rails.enabled == ("upi", "card")
    assert s.rails.for_rail("UPI") == {"psp_url": "https://psp", "max_amount": "5000.00"}
    assert s.rails.for_rail("card") == {"api_key": "k"} and s.rails.for_rail("wallet") == {}
    assert s.secret_key == b"s3" and s.intake.idempotency_ttl == timedelta(hours=48)


def test_the_relay_cadence_is_configurable_and_reaches_the_worker(tmp_path: Path):
    from flosspay.adapters.container import Container

    base = {"FLOSSPAY_DATA_DIR": str(tmp_path)}
    defaults = load_settings(base).worker
    assert (defaults.relay_recovery_interval_seconds, defaults.relay_chain_interval_seconds) == (5.0, 0.5)
    s = load_settings(
        {**base, "FLOSSPAY_RELAY_RECOVERY_INTERVAL_SECONDS": "1.5", "FLOSSPAY_RELAY_CHAIN_INTERVAL_SECONDS": "0.2"}
    )
    services = Container(settings=s).worker_services()
    assert (services.relay_recovery_interval_seconds, services.relay_chain_interval_seconds) == (1.5, 0.2)
    assert "relay" not in s.rails.per_rail  # core settings, not a rail called "relay"


def test_worker_niceness_defaults_to_none_and_is_bounded(tmp_path: Path):
    base = {"FLOSSPAY_DATA_DIR": str(tmp_path)}
    assert load_settings(base).worker.nice == 0
    s = load_settings({**base, "FLOSSPAY_WORKER_NICE": "10"})
    assert s.worker.nice == 10 and "worker" not in s.rails.per_rail
    for bad in ("-5", "20", "low"):
        with pytest.raises(ConfigError, match=r"^FLOSSPAY_WORKER_NICE must be"):
            load_settings({**base, "FLOSSPAY_WORKER_NICE": bad})


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"FLOSSPAY_PORT": "abc"}, "FLOSSPAY_PORT must be a whole number, got 'abc'"),
        ({"FLOSSPAY_PORT": "70000"}, "FLOSSPAY_PORT must be between 0 and 65535, got 70000"),
        ({"FLOSSPAY_MAX_ATTEMPTS": "0"}, "FLOSSPAY_MAX_ATTEMPTS must be between 1 and 100, got 0"),
        (
            {"FLOSSPAY_DATABASE_URL": "mysql://x"},
            "FLOSSPAY_DATABASE_URL must be a sqlite:/// or postgresql+psycopg:// URL",
        ),
        ({"FLOSSPAY_REDIS_URL": "http://x"}, "FLOSSPAY_REDIS_URL must be a redis:// URL"),
        ({"FLOSSPAY_COLLECT_POLL_SECONDS": "-1"}, "FLOSSPAY_COLLECT_POLL_SECONDS must be positive"),
        ({"FLOSSPAY_RELAY_INTERVAL_SECONDS": "x"}, "FLOSSPAY_RELAY_INTERVAL_SECONDS must be a number"),
        ({"FLOSSPAY_RELAY_CHAIN_INTERVAL_SECONDS": "0"}, "FLOSSPAY_RELAY_CHAIN_INTERVAL_SECONDS must be positive"),
        (
            {"FLOSSPAY_RETRY_MIN_BACKOFF_MS": "900", "FLOSSPAY_RETRY_MAX_BACKOFF_MS": "800"},
            "FLOSSPAY_RETRY_MAX_BACKOFF_MS must not be below FLOSSPAY_RETRY_MIN_BACKOFF_MS",
        ),
    ],
)
def test_bad_values_are_one_line_errors(tmp_path: Path, env, message):
    with pytest.raises(ConfigError) as err:
        load_settings({"FLOSSPAY_DATA_DIR": str(tmp_path), **env})
    assert str(err.value).startswith(message) and "\n" not in str(err.value)


def test_broker_url_selects_the_broker_and_redis_stays_the_default(tmp_path: Path):
    base = {"FLOSSPAY_DATA_DIR": str(tmp_path)}
    embedded = load_settings(base).broker
    assert (embedded.url, embedded.kind) == (None, "in-process")
    redis_only = load_settings({**base, "FLOSSPAY_REDIS_URL": "redis://r:6379/0"}).broker
    assert (redis_only.url, redis_only.kind) == ("redis://r:6379/0", "redis")
    rabbit = load_settings(
        {**base, "FLOSSPAY_REDIS_URL": "redis://r:6379/0", "FLOSSPAY_BROKER_URL": "amqp://u:p@mq:5672/"}
    ).broker
    assert (rabbit.url, rabbit.kind, rabbit.redis_url) == ("amqp://u:p@mq:5672/", "rabbitmq", "redis://r:6379/0")
    alone = load_settings({**base, "FLOSSPAY_BROKER_URL": "redis://q:6379/1"}).broker
    assert (alone.url, alone.redis_url, alone.kind) == ("redis://q:6379/1", "redis://q:6379/1", "redis")
    assert load_settings({**base, "FLOSSPAY_WORKER_PROCESSES": "3"}).worker.processes == 3
    assert load_settings(base).worker.processes == 0  # 0: one per core


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"FLOSSPAY_BROKER_URL": "kafka://u:secret@k/"}, "FLOSSPAY_BROKER_URL must be a redis:// or amqp:// URL"),
        ({"FLOSSPAY_BROKER_URL": "amqp://guest:guest@mq/"}, "FLOSSPAY_BROKER_URL=amqp://… needs FLOSSPAY_REDIS_URL"),
        ({"FLOSSPAY_WORKER_PROCESSES": "-1"}, "FLOSSPAY_WORKER_PROCESSES must be between 0 and 256"),
    ],
)
def test_bad_broker_settings_are_one_line_errors(tmp_path: Path, env, message):
    with pytest.raises(ConfigError) as err:
        load_settings({"FLOSSPAY_DATA_DIR": str(tmp_path), **env})
    assert str(err.value).startswith(message) and "\n" not in str(err.value)
    assert "secret" not in str(err.value), "a password in the URL is never echoed"
