"""The sandbox PSPs ``flosspay serve`` runs answer only the rails of that run (issue 10's table)."""

from __future__ import annotations

import os

import httpx
import pytest

from flosspay.adapters.config import load_settings
from flosspay.adapters.container import Container

pytestmark = [pytest.mark.security, pytest.mark.integration]

# A read of each sandbox that needs no body: UPI lists every client's debits.
PROBES = {"upi": "/v1/debits", "card": "/v1/charges/nope", "wallet": "/v1/debits"}


def test_each_sandbox_refuses_callers_without_the_key_of_this_run(
    tmp_path: object, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in [n for n in os.environ if n.startswith("FLOSSPAY_")]:
        monkeypatch.delenv(name)
    settings = load_settings({"FLOSSPAY_DATA_DIR": str(tmp_path), "FLOSSPAY_RAILS": "upi,card,wallet"})
    container = Container(settings=settings, start_sandboxes=True)
    try:
        registry = container.rails()
        infos = {i.name: i for i in registry.infos}
        key_of = {sandbox.base_url: sandbox.api_key for sandbox in container.rail_loader().sandboxes}  # type: ignore[attr-defined]
        keys = set()
        for name, path in PROBES.items():
            url = infos[name].sandbox_url
            assert url is not None, infos[name].error
            key = key_of[url]
            assert key
            keys.add(key)
            assert httpx.get(url + path, timeout=5).status_code == 401, name
            wrong = {"Authorization": "Bearer sk_test_flosspay_" + name + "_sandbox"}  # the old fixed test keys
            assert httpx.get(url + path, headers=wrong, timeout=5).status_code == 401, name
            right = httpx.get(url + path, headers={"Authorization": f"Bearer {key}"}, timeout=5)
            assert right.status_code in (200, 404), (name, right.text)
        assert len(keys) == 3  # one key per sandbox
        assert sorted(registry.methods()) == ["CARD", "UPI", "WALLET"]  # and the rails were given them
    finally:
        container.rail_loader().stop_sandboxes()


def test_a_new_run_has_new_keys(tmp_path: object, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in [n for n in os.environ if n.startswith("FLOSSPAY_")]:
        monkeypatch.delenv(name)
    seen = []
    for _ in range(2):
        settings = load_settings({"FLOSSPAY_DATA_DIR": str(tmp_path), "FLOSSPAY_RAILS": "upi"})
        container = Container(settings=settings, start_sandboxes=True)
        try:
            container.rails()
            (sandbox,) = container.rail_loader().sandboxes
            seen.append(sandbox.api_key)  # type: ignore[attr-defined]
        finally:
            container.rail_loader().stop_sandboxes()
    assert seen[0] != seen[1]
