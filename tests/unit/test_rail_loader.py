"""Finding rails: good plugins load, broken ones are reported by name, FlossPay starts with the rest."""

from importlib.metadata import EntryPoint

import pytest

from flosspay.adapters.rails import ENTRY_POINT_GROUP, RailLoader
from tests.unit.sample_rails import good

pytestmark = pytest.mark.unit


def ep(name: str, module: str) -> EntryPoint:
    return EntryPoint(name=name, value=f"tests.unit.sample_rails.{module}", group=ENTRY_POINT_GROUP)


ALL = [
    ep("upi", "good"),
    ep("broken", "broken_import"),
    ep("coffee", "unknown_hook"),
    ep("raising", "raising"),
    ep("odd", "not_a_rail"),
]


def test_good_rail_is_enabled_and_broken_ones_are_reported():
    registry = RailLoader(ALL).build({"upi": {"psp_url": "http://psp"}}, None)
    assert registry.methods() == ["UPI"] and registry.get("upi") is not None
    assert registry.by_method("upi") is registry.get("upi")  # methods match case-insensitively
    infos = {i.name: i for i in registry.infos}
    assert infos["upi"].enabled and infos["upi"].method == "UPI" and infos["upi"].error is None
    assert infos["broken"].error == "ImportError: this plugin needs libfoo, which is not installed"
    assert "flosspay_make_coffee" in infos["coffee"].error and not infos["coffee"].enabled
    assert infos["raising"].error == "ValueError: FLOSSPAY_RAISING_PSP_URL is required"
    assert infos["odd"].error == "TypeError: object does not implement the Rail protocol"
    assert good.seen_settings[-1] == {"psp_url": "http://psp"}


def test_enabled_subset_and_names_not_installed():
    registry = RailLoader(ALL).build({}, ("raising", "card"))
    infos = {i.name: i for i in registry.infos}
    assert registry.methods() == []
    assert not infos["upi"].enabled and infos["upi"].error is None  # installed, just not enabled
    assert infos["card"].error == "not installed"
    assert infos["raising"].error is not None


def test_sandboxes_start_only_without_a_psp_url_and_feed_the_rail():
    loader = RailLoader([ep("upi", "good")])
    per_rail: dict[str, dict[str, str]] = {}
    loader.start_sandboxes(per_rail, None)
    key = per_rail["upi"]["api_key"]  # generated for this run, shared by the sandbox and its rail
    assert len(key) >= 32
    assert per_rail == {"upi": {"psp_url": "http://127.0.0.1:9999", "api_key": key}}
    assert good.Sandbox.started == [("127.0.0.1", 0)]
    registry = loader.build(per_rail, None)
    assert registry.infos[0].sandbox_url == "http://127.0.0.1:9999"
    assert good.seen_settings[-1] == {"psp_url": "http://127.0.0.1:9999", "api_key": key}
    loader.stop_sandboxes()
    assert good.Sandbox.started == [] and loader.sandboxes == []
    configured = {"upi": {"psp_url": "https://real-psp"}}
    RailLoader([ep("upi", "good")]).start_sandboxes(configured, None)
    assert configured == {"upi": {"psp_url": "https://real-psp"}}


def test_the_installed_rails_are_found_through_entry_points():
    registry = RailLoader().build({name: {"psp_url": "http://127.0.0.1:9"} for name in ("upi", "card", "wallet")}, None)
    assert {"CARD", "UPI", "WALLET"} <= set(registry.methods())
    assert all(i.version for i in registry.infos if i.name in ("upi", "card", "wallet"))
