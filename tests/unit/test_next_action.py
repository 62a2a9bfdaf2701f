"""A rail's next action (where the customer must go) is kept with the payment and shown until it is final."""

from __future__ import annotations

import json
import re

import pytest

from flosspay.adapters.http.views import state_body
from flosspay.application.status import get_status
from flosspay.domain.payment import PaymentStatus
from flosspay.domain.rail import NextAction, Outcome, RailResult
from tests.unit.test_process_payment import World

pytestmark = pytest.mark.unit
S = PaymentStatus
CHALLENGE = NextAction("redirect", "https://acs.example/3ds/ch_1?step=1")


def status_of(w: World) -> dict[str, object]:
    body: dict[str, object] = json.loads(state_body(get_status("c1", str(w.pid), uow_factory=w.uow)))
    return body


def test_an_action_required_payment_shows_where_to_send_the_customer_until_it_completes() -> None:
    w = World(
        RailResult(Outcome.ACTION_REQUIRED, "3DS", "3-D Secure required", next_action=CHALLENGE),
        RailResult(Outcome.ACTION_REQUIRED, "3DS", "still waiting"),  # no new action: the first one stays
        RailResult(Outcome.COMPLETED, "00", "approved"),
    )
    w.run()
    assert w.payment.status is S.ACTION_REQUIRED
    assert w.payment.next_action == {"type": "redirect", "url": "https://acs.example/3ds/ch_1?step=1"}
    assert status_of(w)["nextAction"] == {"type": "redirect", "url": "https://acs.example/3ds/ch_1?step=1"}
    w.clock.advance(2)
    w.run()
    assert w.payment.status is S.ACTION_REQUIRED and status_of(w)["nextAction"] == CHALLENGE.as_dict()
    w.clock.advance(2)
    w.run()
    assert w.payment.status is S.COMPLETED and w.payment.next_action is None
    assert "nextAction" not in status_of(w)


def test_a_newer_next_action_replaces_the_kept_one() -> None:
    later = NextAction("redirect", "https://acs.example/3ds/ch_1?step=2")
    w = World(
        RailResult(Outcome.ACTION_REQUIRED, next_action=CHALLENGE),
        RailResult(Outcome.ACTION_REQUIRED, next_action=later),
    )
    w.run()
    w.clock.advance(2)
    w.run()
    assert status_of(w)["nextAction"] == later.as_dict()


def test_a_next_action_with_another_outcome_is_not_kept() -> None:
    w = World(RailResult(Outcome.DECLINED, "05", "no", next_action=CHALLENGE))
    w.run()
    assert w.payment.status is S.FAILED and w.payment.next_action is None


@pytest.mark.parametrize(
    ("kind", "url", "complaint"),
    [
        ("popup", "https://a.example/", "unknown next action type"),
        ("redirect", "javascript:alert(1)", "absolute http(s) URL"),
        ("redirect", "ftp://a.example/", "absolute http(s) URL"),
        ("redirect", "https://", "absolute http(s) URL"),
        ("redirect", "https://a.example/" + "x" * 2048, "at most 2048"),
        ("redirect", "https://a.example/a b", "without spaces"),
    ],
)
def test_a_next_action_is_a_redirect_to_a_web_address(kind: str, url: str, complaint: str) -> None:
    with pytest.raises(ValueError, match=re.escape(complaint)):
        NextAction(kind, url)
