"""The plugin as FlossPay finds it: the entry point, the pluggy hooks, and working objects from them."""

from __future__ import annotations

from importlib.metadata import entry_points

import httpx
import pluggy
import pytest
from flosspay_upi import plugin
from flosspay_upi.rail import UpiRail
from flosspay_upi.sandbox import UpiSandbox
from upi_helpers import debits_of, upi_request

from flosspay import hookspecs
from flosspay.railapi import Outcome, Rail

pytestmark = pytest.mark.integration


def test_the_entry_point_is_discoverable() -> None:
    found = {ep.name: ep for ep in entry_points(group="flosspay.rails")}
    assert found["upi"].value == "flosspay_upi.plugin"
    assert found["upi"].load() is plugin


@pytest.fixture
def manager() -> pluggy.PluginManager:
    pm = pluggy.PluginManager("flosspay")
    pm.add_hookspecs(hookspecs)
    pm.load_setuptools_entrypoints("flosspay.rails", name="upi")
    pm.check_pending()
    return pm


def test_pluggy_loads_the_plugin_through_its_entry_point(manager: pluggy.PluginManager) -> None:
    assert manager.get_plugin("upi") is plugin


def test_the_hooks_give_a_sandbox_and_a_rail_that_work_together(manager: pluggy.PluginManager) -> None:
    settings = {"collect_approve_seconds": "0"}
    [sandbox] = manager.hook.flosspay_sandbox(settings=settings)
    assert isinstance(sandbox, UpiSandbox)
    url = sandbox.start("127.0.0.1", 0)
    try:
        assert httpx.get(f"{url}/v1/health", timeout=2).json() == {"status": "ok"}
        [rail] = manager.hook.flosspay_rail(settings=settings | {"psp_url": url})
        assert isinstance(rail, UpiRail)
        assert isinstance(rail, Rail)
        assert (rail.name, rail.method) == ("upi", "UPI")
        request = upi_request("alice@okhdfc")
        assert rail.execute(request).outcome is Outcome.COMPLETED
        assert len(debits_of(url, request.reference)) == 1
    finally:
        sandbox.stop()


def test_the_rail_hook_refuses_unusable_settings_in_one_line(manager: pluggy.PluginManager) -> None:
    with pytest.raises(ValueError, match=r"^FLOSSPAY_UPI_PSP_URL is required") as exc:
        manager.hook.flosspay_rail(settings={})
    assert "\n" not in str(exc.value)


def test_the_rail_hook_does_no_network_io() -> None:
    rail = plugin.flosspay_rail({"psp_url": "http://192.0.2.1:1"})  # TEST-NET: unroutable, never contacted
    assert isinstance(rail, UpiRail)


def test_the_sandbox_refuses_a_bad_delay_in_one_line() -> None:
    with pytest.raises(ValueError, match=r"^FLOSSPAY_UPI_SLOW_SECONDS must be a number of seconds >= 0"):
        plugin.flosspay_sandbox({"slow_seconds": "-1"})


def test_starting_a_running_sandbox_twice_is_refused_and_stop_is_idempotent() -> None:
    sandbox = UpiSandbox()
    url = sandbox.start("127.0.0.1", 0)
    try:
        with pytest.raises(RuntimeError, match="already running"):
            sandbox.start("127.0.0.1", 0)
    finally:
        sandbox.stop()
        sandbox.stop()
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"{url}/v1/health", timeout=1)
