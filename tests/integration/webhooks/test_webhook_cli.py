"""`flosspay webhooks …` as an operator runs it (in-process ``main``), SQLite in a temporary data dir."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from flosspay.adapters.cli.main import main

pytestmark = pytest.mark.integration


@pytest.fixture
def cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]):  # type: ignore[no-untyped-def]
    for name in list(os.environ):
        if name.startswith("FLOSSPAY_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("FLOSSPAY_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("FLOSSPAY_WEBHOOK_ALLOW_PRIVATE_URLS", "true")

    def run(*args: str) -> tuple[int, str, str]:
        code = main(list(args))
        out = capsys.readouterr()
        return code, out.out, out.err

    return run


def test_endpoints_lifecycle_and_the_delivery_log_from_the_cli(cli) -> None:  # type: ignore[no-untyped-def]
    assert cli("db", "upgrade")[0] == 0
    client = json.loads(cli("clients", "create", "Acme", "--json")[1])["clientId"]

    code, out, err = cli(
        "webhooks",
        "endpoints",
        "create",
        "http://127.0.0.1:9/hooks",
        "--client",
        client,
        "--events",
        "payment.completed,payment.failed",
    )
    assert code == 0, err
    endpoint = json.loads(out)
    assert endpoint["secret"].startswith("whsec_") and endpoint["events"] == ["payment.completed", "payment.failed"]
    assert "shown only this once" in err

    code, out, _ = cli("webhooks", "endpoints", "list", "--client", client)
    assert [e["id"] for e in json.loads(out)] == [endpoint["id"]] and endpoint["secret"] not in out
    assert (
        json.loads(cli("webhooks", "endpoints", "update", endpoint["id"], "--client", client, "--disable")[1])[
            "enabled"
        ]
        is False
    )
    rotated = json.loads(cli("webhooks", "endpoints", "rotate-secret", endpoint["id"], "--client", client)[1])
    assert rotated["secret"] != endpoint["secret"]
    assert json.loads(cli("webhooks", "events", "--client", client)[1]) == []
    code, _, err = cli("webhooks", "attempts", "msg_nope", "--client", client)
    assert code == 1 and "no webhook event" in err

    code, _, err = cli("webhooks", "redeliver", "msg_nope", "--client", client)
    assert code == 1 and err.strip() == "flosspay: error: no webhook event 'msg_nope'"
    code, _, err = cli("webhooks", "endpoints", "create", "ftp://x", "--client", client)
    assert code == 1 and "url: must be an https:// URL" in err
    code, _, err = cli("webhooks", "endpoints", "list", "--client", "cl_nobody")
    assert code == 1 and "no client 'cl_nobody'" in err
    assert cli("webhooks", "endpoints", "delete", endpoint["id"], "--client", client)[0] == 0
    code, _, err = cli("webhooks", "endpoints", "show", endpoint["id"], "--client", client)
    assert code == 1 and "no webhook endpoint" in err
