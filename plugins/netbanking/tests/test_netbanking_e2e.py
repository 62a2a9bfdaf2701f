"""End to end: ``flosspay serve`` runs the sandbox bank; a customer clicks through its page with httpx.

The payment is made through FlossPay's API like any merchant would, the status shows the
``nextAction`` redirect, the customer approves (or declines) at the bank and is sent back to the
merchant's ``returnUrl``, and the payment settles by status query.
"""

from __future__ import annotations

import json
import re
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from tests.e2e.processes import Client, Proc, base_env, free_port, wait_for

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

FLOSSPAY = str(Path(sys.executable).parent / "flosspay")
RETURN_URL = "https://shop.example/orders/42/return?cart=7"


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Client]:
    home = tmp_path_factory.mktemp("serve")
    port = free_port()
    env = base_env(FLOSSPAY_RAILS="netbanking", FLOSSPAY_COLLECT_POLL_SECONDS="0.5")
    proc = Proc("serve", [FLOSSPAY, "serve", "--port", str(port)], env, home, cwd=home)
    try:
        wait_for(lambda: (home / ".flosspay" / "demo-client.json").exists() and "curl" in proc.output(), 60, "serve")
        creds = json.loads((home / ".flosspay" / "demo-client.json").read_text())
        yield Client(f"http://127.0.0.1:{port}", creds["clientId"], creds["secret"])
    except BaseException:
        print(proc.output())
        raise
    finally:
        code = proc.stop()
        assert code == 0, proc.output()
        assert "Traceback" not in proc.output(), proc.output()


def _pay(client: Client, bank: str = "HDFC") -> str:
    body = {"method": "NETBANKING", "amount": "1250.00", "currency": "INR"}
    body["netbanking"] = {"bank": bank, "returnUrl": RETURN_URL}  # type: ignore[assignment]
    accepted = client.post("/api/v1/payments", body, key=f"nb-{uuid.uuid4().hex[:8]}")
    assert accepted.status_code == 200, accepted.text
    payment = accepted.json()
    assert payment["status"] == "QUEUED" and payment["netbanking"]["bank"] == bank
    return str(payment["id"])


def _waiting(client: Client, payment_id: str) -> dict[str, Any]:
    status: dict[str, Any] = wait_for(
        lambda: (s := client.status(payment_id))["status"] == "ACTION_REQUIRED" and s, 30, "ACTION_REQUIRED"
    )
    return status


@pytest.mark.parametrize(
    ("decision", "final", "code"), [("approve", "COMPLETED", None), ("decline", "DECLINED", "CUSTOMER_DECLINED")]
)
def test_the_customer_clicks_through_the_bank_page(served: Client, decision: str, final: str, code: str | None) -> None:
    payment_id = _pay(served)
    waiting = _waiting(served, payment_id)
    action = waiting["nextAction"]
    assert action["type"] == "redirect" and re.fullmatch(r"http://127\.0\.0\.1:\d+/bank/[\w-]+", action["url"])
    with httpx.Client(timeout=10) as browser:  # the customer's browser: no FlossPay or bank credentials
        page = browser.get(action["url"])
        assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
        assert "HDFC Bank" in page.text and "1250.00 INR" in page.text
        form = re.search(r'<form method="post" action="([^"]+)">', page.text)
        assert form is not None and 'value="approve"' in page.text and 'value="decline"' in page.text
        back = browser.post(str(page.url.join(form.group(1))), data={"decision": decision})
    assert back.status_code == 303
    target = urlsplit(back.headers["location"])
    assert f"{target.scheme}://{target.netloc}{target.path}" == RETURN_URL.split("?")[0]
    query = parse_qs(target.query)
    assert query["cart"] == ["7"] and query["reference"] == [payment_id]
    assert query["status"] == ["approved" if decision == "approve" else "declined"]
    settled = served.wait_final(payment_id)
    assert settled["status"] == final and "nextAction" not in settled
    assert settled.get("failureCode") == code
    if final == "COMPLETED":
        assert settled["ledgerEntryId"]
