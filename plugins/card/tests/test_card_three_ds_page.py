"""3-D Secure through the sandbox's challenge page: the rail's next action leads a browser there."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import httpx
import msgspec
import pytest
from flosspay_card import testcards
from flosspay_card.fields import CardFields
from flosspay_card.rail import CardRail
from flosspay_card.sandbox import CardSandbox
from flosspay_card.settings import CardSettings

from flosspay.railapi import Flow, Money, Outcome, RailRequest

from .conftest import API_KEY, card

pytestmark = pytest.mark.integration


@pytest.fixture
def rail() -> Iterator[CardRail]:
    sandbox = CardSandbox({"api_key": API_KEY, "sandbox_three_ds_seconds": "300"})  # only the page resolves it
    url = sandbox.start("127.0.0.1", 0)
    rail = CardRail(CardSettings(psp_url=url, api_key=API_KEY, timeout_seconds=5.0))
    yield rail
    rail.close()
    sandbox.stop()


def _challenge(rail: CardRail) -> tuple[RailRequest, str]:
    prepared = rail.prepare(msgspec.convert(card(testcards.THREE_D_SECURE), CardFields), Money(5_000, "INR"), Flow.PAY)
    request = RailRequest(str(uuid.uuid4()), Flow.PAY, Money(5_000, "INR"), prepared.details)
    first = rail.execute(request)
    assert first.outcome is Outcome.ACTION_REQUIRED and first.next_action is not None
    assert first.next_action.type == "redirect" and "/3ds/ch_" in first.next_action.url
    assert rail.status(request).next_action == first.next_action, "status repeats where the customer must go"
    return request, first.next_action.url


@pytest.mark.parametrize(
    ("decision", "outcome", "code"), [("approve", Outcome.COMPLETED, "00"), ("fail", Outcome.DECLINED, "3DS_FAILED")]
)
def test_the_cardholder_answers_on_the_challenge_page(
    rail: CardRail, decision: str, outcome: Outcome, code: str
) -> None:
    request, url = _challenge(rail)
    with httpx.Client(timeout=5) as browser:  # a browser: no API key
        page = browser.get(url)
        assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
        assert "Approve" in page.text and "50.00 INR" in page.text
        assert testcards.THREE_D_SECURE not in page.text and testcards.THREE_D_SECURE[-4:] not in page.text
        answered = browser.post(url, data={"decision": decision})
        assert answered.status_code == 200
    settled = rail.status(request)
    assert (settled.outcome, settled.code, settled.next_action) == (outcome, code, None)
    assert rail.execute(request).outcome is outcome, "a repeat answers the settled charge"


def test_an_unknown_challenge_is_a_404_page(rail: CardRail) -> None:
    _, url = _challenge(rail)
    page = httpx.get(url.rsplit("/", 1)[0] + "/ch_nope", timeout=5)
    assert page.status_code == 404 and "No such" in page.text
