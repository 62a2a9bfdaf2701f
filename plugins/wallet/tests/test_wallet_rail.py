"""The wallet rail against its sandbox over HTTP, the standalone sandbox command, and the settings."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import uuid

import httpx
import pytest
from flosspay_wallet.rail import WalletRail
from flosspay_wallet.sandbox import WalletSandbox
from flosspay_wallet.settings import SANDBOX_API_KEY, WalletSettings, WalletSettingsError

from flosspay.railapi import Flow, Money, Outcome, RailRequest

from .conftest import API_KEY

pytestmark = pytest.mark.integration


def request(wallet_id: str, minor: int) -> RailRequest:
    details = {"provider": "paytm", "wallet_id": wallet_id}
    return RailRequest(str(uuid.uuid4()), Flow.PAY, Money(minor, "INR"), details)


def test_a_balance_runs_out_and_a_refund_restores_it(wallet_rail: WalletRail) -> None:
    wallet_id = f"asha-{uuid.uuid4().hex[:8]}"
    first = request(wallet_id, 700_000)
    assert wallet_rail.execute(first).outcome is Outcome.COMPLETED
    second = request(wallet_id, 700_000)
    declined = wallet_rail.execute(second)
    assert (declined.outcome, declined.code) == (Outcome.DECLINED, "INSUFFICIENT_BALANCE")
    assert wallet_rail.status(second).code == "INSUFFICIENT_BALANCE"
    assert wallet_rail.refund(first, Money(500_000, "INR"), "r-1").outcome is Outcome.COMPLETED
    assert wallet_rail.execute(request(wallet_id, 700_000)).outcome is Outcome.COMPLETED


def test_the_blocked_and_empty_test_wallets_decline(wallet_rail: WalletRail) -> None:
    assert wallet_rail.execute(request("blocked-1", 100)).code == "WALLET_BLOCKED"
    assert wallet_rail.execute(request("empty-1", 100)).code == "INSUFFICIENT_BALANCE"


def test_a_wrong_api_key_changes_nothing_and_is_transient(wallet_sandbox: tuple[WalletSandbox, str]) -> None:
    wrong = WalletRail(WalletSettings(psp_url=wallet_sandbox[1], api_key="sk_test_wrong", timeout_seconds=2))
    result = wrong.execute(request("asha-auth", 100))
    wrong.close()
    assert (result.outcome, result.code) == (Outcome.TRANSIENT, "PSP_AUTH")


def test_requests_without_a_wallet_are_declined_without_a_call(wallet_rail: WalletRail) -> None:
    result = wallet_rail.execute(RailRequest("r", Flow.PAY, Money(1, "INR"), {}))
    assert (result.outcome, result.code) == (Outcome.DECLINED, "INVALID_DETAILS")


def test_impossible_refunds_are_refused_locally(wallet_rail: WalletRail) -> None:
    paid = request("asha-local", 1_000)
    assert wallet_rail.refund(paid, Money(1_001, "INR"), "r").code == "EXCEEDS_AMOUNT"
    assert wallet_rail.refund(paid, Money(1, "USD"), "r").code == "CURRENCY_MISMATCH"


def test_the_sandbox_needs_the_key_except_for_health(wallet_sandbox: tuple[WalletSandbox, str]) -> None:
    url = wallet_sandbox[1]
    assert httpx.get(f"{url}/v1/health").status_code == 200
    assert httpx.get(f"{url}/v1/sandbox/wallets/paytm/asha").status_code == 401
    headers = {"Authorization": f"Bearer {API_KEY}"}
    assert httpx.get(f"{url}/v1/sandbox/wallets/paytm/fresh", headers=headers).json()["balanceMinor"] == 1_000_000


def test_settings_errors_name_the_variable() -> None:
    with pytest.raises(WalletSettingsError, match="FLOSSPAY_WALLET_PSP_URL"):
        WalletSettings.from_mapping({})
    with pytest.raises(WalletSettingsError, match="FLOSSPAY_WALLET_PROVIDERS"):
        WalletSettings.from_mapping({"psp_url": "http://x", "providers": "Pay Tm"})
    with pytest.raises(WalletSettingsError, match="FLOSSPAY_WALLET_TIMEOUT_SECONDS"):
        WalletSettings.from_mapping({"psp_url": "http://x", "timeout_seconds": "-1"})
    settings = WalletSettings.from_mapping({"psp_url": "http://x/", "providers": "paytm, Demo", "api_key": "sk_live_q"})
    assert (settings.psp_url, settings.providers, settings.api_key) == ("http://x", {"paytm", "demo"}, "sk_live_q")
    assert "sk_live_q" not in repr(settings)
    assert WalletSettings.from_mapping({"psp_url": "http://x"}).api_key == SANDBOX_API_KEY


def test_the_standalone_command_serves_until_terminated() -> None:
    command = [sys.executable, "-m", "flosspay_wallet.sandbox", "--port", "0"]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True, env={**os.environ, "PYTHONUNBUFFERED": "1"})
    try:
        assert process.stdout is not None
        url = process.stdout.readline().rsplit(" ", 1)[-1].strip()
        assert httpx.get(f"{url}/v1/health", timeout=5).status_code == 200
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=10) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
