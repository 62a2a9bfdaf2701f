"""Client and webhook secrets at rest: sealed under the server key, rotatable, never readable from a dump."""

from __future__ import annotations

import base64
import contextlib
import json
import os
import subprocess
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy
import standardwebhooks
from litestar.testing import TestClient
from sqlalchemy.engine import make_url

from flosspay.adapters.cli.main import main
from flosspay.adapters.clock import SystemClock
from flosspay.adapters.config import load_settings
from flosspay.adapters.container import Container, secret_box_for
from flosspay.adapters.http.app import create_app
from flosspay.adapters.http.signature import canonical_request, sign
from flosspay.adapters.persistence.engine import create_engine
from flosspay.adapters.persistence.migrate import upgrade
from flosspay.adapters.persistence.tables import api_clients, webhook_endpoints
from flosspay.adapters.persistence.unit_of_work import SqlUnitOfWorkFactory
from flosspay.adapters.secret_box import SecretBox, SecretBoxError
from flosspay.adapters.webhooks.sender import HttpxSender
from flosspay.application.clients import create_client, disable_client, rotate_client_secret
from flosspay.application.webhook_delivery import deliver_due
from flosspay.domain.clients import ApiClient
from flosspay.domain.webhooks import new_secret
from tests.db_fixtures import TEST_SECRET_BOX
from tests.fakes import FakeClock, FakeUnitOfWorkFactory
from tests.integration.http.http_api_support import World, signed_headers
from tests.integration.persistence.support import T0
from tests.integration.webhooks.receiver import Receiver
from tests.integration.webhooks.support import FAST, completed_payment

pytestmark = pytest.mark.security

CARD_NUMBER = "4111111111111111"
CVV = "736"


# --- the box ------------------------------------------------------------------------------------


def test_a_sealed_secret_opens_only_with_its_key_and_on_its_own_row() -> None:
    box = SecretBox(b"k1")
    key_id, token = box.seal("sk_plain", "api_clients.secret:cl_a")
    assert "sk_plain" not in token and key_id == box.key_id
    assert box.open(key_id, token, "api_clients.secret:cl_a") == "sk_plain"
    with pytest.raises(SecretBoxError):
        box.open(key_id, token, "api_clients.secret:cl_b")  # copied onto another client's row
    with pytest.raises(SecretBoxError):
        SecretBox(b"k2").open(key_id, token, "api_clients.secret:cl_a")
    tampered = base64.urlsafe_b64encode(
        bytes([base64.urlsafe_b64decode(token)[0] ^ 1]) + base64.urlsafe_b64decode(token)[1:]
    )
    with pytest.raises(SecretBoxError):
        box.open(key_id, tampered.decode(), "api_clients.secret:cl_a")
    assert box.seal("sk_plain", "c")[1] != box.seal("sk_plain", "c")[1]  # a fresh nonce each time


def test_a_previous_key_opens_and_a_reload_finds_a_key_rotated_elsewhere() -> None:
    old = SecretBox(b"old")
    key_id, token = old.seal("sk_x", "c")
    assert SecretBox(b"new", [b"old"]).open(key_id, token, "c") == "sk_x"
    newer = SecretBox(b"newer")
    newer_id, newer_token = newer.seal("sk_y", "c")
    stale = SecretBox(b"old", reload=lambda: (b"newer", [b"old"]))
    assert stale.open(newer_id, newer_token, "c") == "sk_y"
    assert stale.key_id == newer.key_id


# --- the database -------------------------------------------------------------------------------


def _raw_rows(engine: sqlalchemy.Engine) -> list[dict[str, Any]]:
    with engine.connect() as connection:
        return [dict(r) for r in connection.execute(sqlalchemy.select(api_clients)).mappings()]


def test_a_stored_secret_is_sealed_with_its_key_id(uow_factory: SqlUnitOfWorkFactory) -> None:
    client = create_client("Acme", uow_factory=uow_factory, clock=FakeClock())
    (row,) = _raw_rows(uow_factory.engine)
    assert client.secret not in json.dumps(row, default=str)
    assert row["secret_key_id"] == TEST_SECRET_BOX.key_id
    with uow_factory() as uow:
        assert uow.clients.get(client.client_id) == client


@pytest.mark.parametrize("backend", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def test_the_migration_seals_existing_plain_text_secrets(
    backend: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    url = f"sqlite:///{tmp_path / 'old.db'}" if backend == "sqlite" else request.getfixturevalue("pg_database_url")
    upgrade(url, revision="0002")
    engine = create_engine(url)
    try:
        with engine.begin() as connection:
            connection.execute(
                api_clients.insert().values(
                    client_id="cl_old", name="Old", secret="sk_plain_old_secret", created_at=T0, active=True
                )
            )
        box = SecretBox(b"migration-key")
        upgrade(url, box)
        (row,) = _raw_rows(engine)
        assert "sk_plain_old_secret" not in json.dumps(row, default=str)
        assert row["secret_key_id"] == box.key_id
        with SqlUnitOfWorkFactory(engine, box)() as uow:
            client = uow.clients.get("cl_old")
        assert client is not None and client.secret == "sk_plain_old_secret"
    finally:
        engine.dispose()


# --- rotating a client's secret, disabling a client -----------------------------------------------


def test_a_rotated_secret_overlaps_for_the_given_time_then_ends(uow_factory: SqlUnitOfWorkFactory) -> None:
    clock = FakeClock()
    created = create_client("Acme", uow_factory=uow_factory, clock=clock)
    rotated = rotate_client_secret(created.client_id, uow_factory=uow_factory, clock=clock)
    assert rotated.secret != created.secret
    with uow_factory() as uow:
        stored = uow.clients.get(created.client_id)
    assert stored is not None
    assert stored.secrets_at(clock.now()) == (rotated.secret, created.secret)
    assert stored.secrets_at(clock.now() + timedelta(hours=24)) == (rotated.secret,)  # default overlap 24 h
    raw = json.dumps(_raw_rows(uow_factory.engine), default=str)
    assert created.secret not in raw and rotated.secret not in raw


def test_the_api_takes_the_old_secret_only_during_the_overlap() -> None:
    world = World()
    factory = world.uow_factory
    assert isinstance(factory, FakeUnitOfWorkFactory)
    old = create_client("Acme", uow_factory=factory, clock=world.clock)
    new = rotate_client_secret(old.client_id, uow_factory=factory, clock=world.clock, overlap=timedelta(hours=1))
    world.clients[new.client_id] = new
    with TestClient(world.app()) as http:

        def head(secret: str) -> int:
            ts = int(world.clock.now().timestamp())
            headers = signed_headers("GET", "/api/v1/ledger/head", client_id=old.client_id, secret=secret, timestamp=ts)
            return http.get("/api/v1/ledger/head", headers=headers).status_code

        assert head(new.secret) == 200 and head(old.secret) == 200
        world.clock.advance(3600)
        assert head(new.secret) == 200 and head(old.secret) == 401
        world.clients[new.client_id] = disable_client(new.client_id, uow_factory=factory)
        assert head(new.secret) == 401


def test_a_disabled_client_is_refused(uow_factory: SqlUnitOfWorkFactory) -> None:
    client = create_client("Acme", uow_factory=uow_factory, clock=FakeClock())
    disable_client(client.client_id, uow_factory=uow_factory)
    with uow_factory() as uow:
        stored = uow.clients.get(client.client_id)
    assert stored is not None and not stored.active


# --- the CLI ------------------------------------------------------------------------------------


@pytest.fixture
def cli_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    for name in [n for n in os.environ if n.startswith("FLOSSPAY_")]:
        monkeypatch.delenv(name)
    data = tmp_path / "data"
    monkeypatch.setenv("FLOSSPAY_DATA_DIR", str(data))
    monkeypatch.setenv("FLOSSPAY_RAILS", "upi")
    return data


def _cli(capsys: pytest.CaptureFixture[str], *args: str) -> str:
    assert main(list(args)) == 0, capsys.readouterr().err
    return capsys.readouterr().out


def _stored(data: Path) -> ApiClient:
    settings = load_settings()
    engine = create_engine(settings.database.url)
    try:
        with SqlUnitOfWorkFactory(engine, secret_box_for(settings))() as uow:
            (client,) = uow.clients.list()
        return client
    finally:
        engine.dispose()


def test_cli_rotates_a_client_secret_and_disables_a_client(cli_env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _cli(capsys, "db", "upgrade")
    created = json.loads(_cli(capsys, "clients", "create", "Acme", "--json"))
    rotated = json.loads(
        _cli(capsys, "clients", "rotate-secret", created["clientId"], "--json", "--overlap-hours", "2")
    )
    assert rotated["clientId"] == created["clientId"] and rotated["secret"] != created["secret"]
    assert rotated["previousSecretValidUntil"] is not None
    stored = _stored(cli_env)
    assert stored.secret == rotated["secret"] and stored.previous_secret == created["secret"]
    assert "disabled" in _cli(capsys, "clients", "disable", created["clientId"])
    assert not _stored(cli_env).active
    assert main(["clients", "disable", "cl_nobody"]) == 1
    assert capsys.readouterr().err.strip() == "flosspay: error: no client 'cl_nobody'"


def test_cli_rotates_the_secret_key_and_every_secret_follows(cli_env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _cli(capsys, "db", "upgrade")
    created = json.loads(_cli(capsys, "clients", "create", "Acme", "--json"))
    old_key = (cli_env / "secret.key").read_bytes()
    old_id = secret_box_for(load_settings()).key_id
    report = _cli(capsys, "secret-key", "rotate")
    assert "resealed 1 client(s)" in report
    new_key = (cli_env / "secret.key").read_bytes()
    assert new_key != old_key and (cli_env / "secret.key.previous").read_bytes().strip() == old_key
    for name in ("secret.key", "secret.key.previous"):
        assert (cli_env / name).stat().st_mode & 0o777 == 0o600
    settings = load_settings()
    engine = create_engine(settings.database.url)
    try:
        (row,) = _raw_rows(engine)
    finally:
        engine.dispose()
    assert row["secret_key_id"] == secret_box_for(settings).key_id != old_id
    assert _stored(cli_env).secret == created["secret"]
    # a process still running with the old key finds the new one in the files
    stale = SecretBox(old_key, reload=lambda: (new_key, [old_key]))
    assert (
        stale.open(row["secret_key_id"], row["secret"], f"api_clients.secret:{created['clientId']}")
        == created["secret"]
    )


def test_secret_key_rotate_reseals_webhook_secrets_and_deliveries_still_verify(
    cli_env: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FLOSSPAY_WEBHOOK_ALLOW_PRIVATE_URLS", "true")
    _cli(capsys, "db", "upgrade")
    client = json.loads(_cli(capsys, "clients", "create", "Acme", "--json"))["clientId"]
    receiver = Receiver().start()
    try:
        endpoint = json.loads(_cli(capsys, "webhooks", "endpoints", "create", receiver.url, "--client", client))
        rotated = json.loads(_cli(capsys, "webhooks", "endpoints", "rotate-secret", endpoint["id"], "--client", client))
        before = secret_box_for(load_settings())  # as a running sender holds it: the old key, re-reads the files
        assert "resealed 1 client(s) and 1 webhook endpoint(s)" in _cli(capsys, "secret-key", "rotate")
        settings = load_settings()
        box = secret_box_for(settings)
        assert box.key_id != before.key_id
        engine = create_engine(settings.database.url)
        try:
            with engine.connect() as connection:
                (row,) = connection.execute(sqlalchemy.select(webhook_endpoints)).mappings()
            assert row["secret_key_id"] == row["previous_secret_key_id"] == box.key_id
            assert endpoint["secret"] not in json.dumps(dict(row), default=str)
            assert rotated["secret"] not in json.dumps(dict(row), default=str)
            for sender_box in (box, before):
                factory = SqlUnitOfWorkFactory(engine, sender_box)
                completed_payment(factory, datetime.now(UTC), client_id=client)
                sender = HttpxSender(FAST)
                try:
                    assert deliver_due(uow_factory=factory, sender=sender, clock=SystemClock(), policy=FAST) == 1
                finally:
                    sender.close()
            assert before.key_id == box.key_id  # the stale box found the new key in the files
        finally:
            engine.dispose()
        deliveries = receiver.wait_for(2)
    finally:
        receiver.stop()
    for got in deliveries:  # signed with both live secrets (the overlap): either verifies
        for secret in (rotated["secret"], endpoint["secret"]):
            assert standardwebhooks.Webhook(secret).verify(got.body, got.headers)["type"] == "payment.completed"
    with pytest.raises(standardwebhooks.WebhookVerificationError):
        standardwebhooks.Webhook(new_secret()).verify(deliveries[0].body, deliveries[0].headers)


def test_cli_reseals_under_an_environment_key(
    cli_env: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FLOSSPAY_SECRET_KEY", "first-env-key")
    _cli(capsys, "db", "upgrade")
    created = json.loads(_cli(capsys, "clients", "create", "Acme", "--json"))
    monkeypatch.setenv("FLOSSPAY_SECRET_KEY", "second-env-key")
    monkeypatch.setenv("FLOSSPAY_SECRET_KEY_PREVIOUS", "first-env-key")
    assert "resealed 1 client(s)" in _cli(capsys, "secret-key", "rotate")
    monkeypatch.delenv("FLOSSPAY_SECRET_KEY_PREVIOUS")
    assert _stored(cli_env).secret == created["secret"]  # the second key alone opens it now


# --- a database dump ----------------------------------------------------------------------------


def _populate_through_the_api(data_dir: Path, database_url: str, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """A client, a rotated secret, a card payment and a webhook endpoint whose secret was rotated,
    made the way a merchant makes them."""
    for name in [n for n in os.environ if n.startswith("FLOSSPAY_")]:
        monkeypatch.delenv(name)
    env = {
        "FLOSSPAY_DATA_DIR": str(data_dir),
        "FLOSSPAY_DATABASE_URL": database_url,
        "FLOSSPAY_RAILS": "card",
        "FLOSSPAY_WEBHOOK_ALLOW_PRIVATE_URLS": "true",
    }
    settings = load_settings(env)
    container = Container(settings=settings, start_sandboxes=True)  # the card rail tokenises at its PSP
    upgrade(settings.database.url, container.secret_box())
    first = create_client("Dump Test", uow_factory=container.uow_factory(), clock=container.clock())
    client = rotate_client_secret(first.client_id, uow_factory=container.uow_factory(), clock=container.clock())
    body = json.dumps(
        {
            "method": "CARD",
            "amount": "499.00",
            "card": {"number": CARD_NUMBER, "expiryMonth": 12, "expiryYear": 2035, "cvv": CVV, "holderName": "A B"},
        }
    ).encode()
    with TestClient(create_app(container.api_services())) as http, _stopping(container):

        def post(path: str, body: bytes, key: str) -> Any:
            ts = str(int(container.clock().now().timestamp()))
            headers = {
                "X-Client-Id": client.client_id,
                "X-Timestamp": ts,
                "X-HMAC": sign(client.secret, canonical_request("POST", path, ts, key, body)),
                "Idempotency-Key": key,
                "Content-Type": "application/json",
            }
            response = http.post(path, content=body, headers=headers)
            assert response.status_code in (200, 201), response.text
            return response.json()

        post("/api/v1/payments", body, "dump-1")
        hook = json.dumps({"url": "http://127.0.0.1:9/hooks"}).encode()
        endpoint = post("/api/v1/webhook-endpoints", hook, "dump-2")
        rotated = post(f"/api/v1/webhook-endpoints/{endpoint['id']}/rotate-secret", b"", "dump-3")
    with container.uow_factory()() as uow:  # both endpoint secrets are live (the rotation overlap)
        stored = uow.webhooks.get_endpoint(client.client_id, endpoint["id"])
    assert stored is not None and stored.signing_secrets(container.clock().now()) == [
        rotated["secret"],
        endpoint["secret"],
    ]
    container.engine().dispose()
    return [first.secret, client.secret, endpoint["secret"], rotated["secret"]]


@contextlib.contextmanager
def _stopping(container: Container) -> Iterator[None]:
    try:
        yield
    finally:
        container.rail_loader().stop_sandboxes()


def _assert_reveals_nothing(dump: str, secrets_: list[str]) -> None:
    assert "CREATE TABLE" in dump.upper() and "api_clients" in dump and "payments" in dump
    assert "Dump Test" in dump and "http://127.0.0.1:9/hooks" in dump  # the rows are there...
    assert len(secrets_) == 4 and all(s.startswith("whsec_") for s in secrets_[2:])
    for secret in secrets_:
        assert secret not in dump  # ...but no client or webhook secret, current or previous
        assert secret.removeprefix("whsec_") not in dump
    assert CARD_NUMBER not in dump and "cvv" not in dump.lower()
    assert f'"{CVV}"' not in dump and f"'{CVV}'" not in dump


def test_a_sqlite_dump_reveals_no_secret_card_number_or_cvv(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    url = f"sqlite:///{tmp_path / 'data' / 'flosspay.db'}"
    secrets_ = _populate_through_the_api(tmp_path / "data", url, monkeypatch)
    dump = subprocess.run(
        ["sqlite3", str(tmp_path / "data" / "flosspay.db"), ".dump"],
        capture_output=True,
        text=True,
        check=True,
        timeout=30,
    ).stdout
    _assert_reveals_nothing(dump, secrets_)


@pytest.mark.postgres
def test_a_postgres_dump_reveals_no_secret_card_number_or_cvv(
    pg_database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    secrets_ = _populate_through_the_api(tmp_path / "data", pg_database_url, monkeypatch)
    url = make_url(pg_database_url)
    dump = subprocess.run(
        [
            "pg_dump",
            "-h",
            url.host or "127.0.0.1",
            "-p",
            str(url.port or 5432),
            "-U",
            url.username or "postgres",
            url.database or "",
        ],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    ).stdout
    _assert_reveals_nothing(dump, secrets_)
